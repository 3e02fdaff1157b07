# expect: CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT
# Allocate until the heap is gone: the linear memory cap holds, the host's memory is untouched.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        hoard = []
        while True:
            hoard.append(bytearray(65536))
