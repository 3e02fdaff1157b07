# expect: runtime OutOfGas
# 'in' over a 100k list in a loop: paid per element.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        l = [0] * 100000
        while True:
            x = -1 in l
        return 0
