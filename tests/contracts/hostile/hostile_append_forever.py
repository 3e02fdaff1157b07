# expect: runtime ContractLimitExceeded max_items
# Grow a list one item at a time.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = []
        while True:
            x.append(1)
        return 0
