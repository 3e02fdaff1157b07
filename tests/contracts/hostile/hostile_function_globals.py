# expect: reject no-underscore-attribute
# A contract function's __globals__ holds the meter helpers.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.attack.__globals__
