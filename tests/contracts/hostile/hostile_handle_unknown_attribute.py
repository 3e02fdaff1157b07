# expect: runtime ContractFault
# Only the documented API names exist on self.ctx.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.context
