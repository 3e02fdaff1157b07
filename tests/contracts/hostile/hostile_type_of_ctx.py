# expect: reject forbidden-builtin
# type(self.ctx) to reach the handle class and its methods.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return type(self.ctx)
