# expect: reject no-walrus
# Assignment expressions leak comprehension variables into the method scope.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = [(y := i) for i in range(3)]
        return y
