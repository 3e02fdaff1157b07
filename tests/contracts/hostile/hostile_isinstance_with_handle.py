# expect: runtime ContractFault
# isinstance takes only the builtin types.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return isinstance(1, self.ctx.get)
