# expect: OUT_OF_GAS|CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT
# Big-integer arithmetic at run time: metered by fuel, bounded by the heap.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        n = 3
        while True:
            n = n * n + 1
