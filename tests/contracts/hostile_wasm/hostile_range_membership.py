# expect: CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT|OUT_OF_GAS
# Range membership, views and set operators on huge inputs: every step is metered by fuel.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        r = range(0, 10 ** 18, 3)
        hits = 0
        for probe in range(10 ** 6):
            if probe * 7 in r:
                hits += 1
        return len(list(r))
