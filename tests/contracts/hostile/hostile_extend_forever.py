# expect: runtime ContractLimitExceeded max_items
# list += list doubles a list in place.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = [1]
        while True:
            x += x
        return 0
