# expect: runtime ContractFault
# Bound methods of the handle have no attributes for contracts.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.get.get
