# expect: runtime OutOfGas
# Retrying failing nested calls forever still pays for each.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        while True:
            self.ctx.try_call(self.ctx.address, 'attack', [])
        return 0
