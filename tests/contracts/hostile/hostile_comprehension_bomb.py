# expect: runtime ContractLimitExceeded max_items
# A comprehension over a billion items.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len([i for i in range(10**9)])
