# expect: runtime OutOfGas
# A long arithmetic loop.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        n = 0
        for i in range(10**12):
            n += i
        return n
