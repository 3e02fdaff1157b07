# expect: runtime ContractLimitExceeded max_items
# Aliasing makes a small list whose == walks 10^10 values: compares pay per value compared.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        a = [inner] * 100000
        b = [[0] * 100000] * 100000
        return a == b
