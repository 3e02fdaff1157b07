# expect: reject forbidden-builtin
# Smuggle getattr through a dict so the call site has no banned name.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        table = {'g': getattr}
        return table['g'](self, 'ctx')
