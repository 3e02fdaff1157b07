# expect: reject no-attribute-assign
# Replacing the handle or a method on the instance.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        self.ctx = None
        return 0
