# expect: runtime ContractFault
# Hashing a 100k-item tuple key costs O(n) per lookup: dict keys must be scalars.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        t = (0,) * 100000
        d = {}
        while True:
            d.get(t)
        return 0
