# expect: runtime OutOfGas
# Writes are charged per byte; spam runs out of gas.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        i = 0
        while True:
            self.ctx.set('a', str(i), 'x' * 10000, -1)
            i += 1
        return 0
