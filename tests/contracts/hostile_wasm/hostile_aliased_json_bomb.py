# expect: CONTRACT_LIMIT_EXCEEDED|OUT_OF_GAS|CONTRACT_FAULT
# A small aliased structure that is enormous once encoded: encoding happens in the guest's heap.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> list:
        inner = ["x" * 100] * 1000
        return [inner] * 1000
