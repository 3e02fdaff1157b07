# expect: runtime ContractLimitExceeded max_items
# [0] * 10**9 must be refused before it allocates.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len([0] * 10**9)
