# expect: runtime ContractLimitExceeded max_items
# Grow a dict one key at a time.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        d = {}
        i = 0
        while True:
            d[i] = i
            i += 1
        return 0
