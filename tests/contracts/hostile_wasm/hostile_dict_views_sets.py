# expect: OUT_OF_GAS|CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT
# Dict views and set algebra over large collections, repeated.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        a = {i: i for i in range(20000)}
        b = {i: i for i in range(10000, 30000)}
        total = 0
        while True:
            total += len(set(a.keys()) & set(b.keys()))
            total += len(set(a) ^ set(b))
