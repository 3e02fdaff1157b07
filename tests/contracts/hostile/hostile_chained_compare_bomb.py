# expect: runtime ContractLimitExceeded max_items
# Chained comparisons pay per operand too.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        a = [inner] * 1000
        b = [[0] * 100000] * 1000
        return 0 < 1 and a <= b <= a
