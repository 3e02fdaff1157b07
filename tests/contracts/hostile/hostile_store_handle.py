# expect: runtime ContractFault
# The handle cannot be stored either.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.set('a', 'k', [self.ctx], -1)
