# expect: runtime ContractLimitExceeded max_items
# 'in' over a list of aliased big lists compares each one deeply.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        a = [inner] * 100000
        return [0] * 100000 in a
