# expect: runtime ContractLimitExceeded max_call_depth
# A contract calling itself through the context.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.call(self.ctx.address, 'attack', [])
