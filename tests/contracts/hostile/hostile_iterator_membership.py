# expect: runtime ContractLimitExceeded max_items
# 'in' over an iterator runs the whole iteration in C: enumerate(range(10**18)) would never end.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return (-1, -1) in enumerate(range(10**18))
