# expect: reject no-underscore-attribute
# A bound method's __self__ is the handle itself.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.get.__self__
