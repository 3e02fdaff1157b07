# expect: runtime ContractLimitExceeded max_items
# Sorting aliased big lists compares them deeply n log n times.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        a = [inner] * 1000
        return len(sorted(a))
