# expect: runtime ContractLimitExceeded max_items
# list.count with deep elements: same deep comparison, through a method.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        a = [inner] * 100000
        return a.count([0] * 100000)
