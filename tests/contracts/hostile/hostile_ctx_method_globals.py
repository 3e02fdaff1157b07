# expect: reject no-underscore-attribute
# A method's __func__.__globals__ is the host module.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.get.__func__.__globals__
