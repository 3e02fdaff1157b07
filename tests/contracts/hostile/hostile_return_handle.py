# expect: runtime ContractFault
# The handle cannot leave the sandbox as a return value.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx
