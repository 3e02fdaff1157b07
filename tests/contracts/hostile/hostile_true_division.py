# expect: reject no-true-division
# True division yields floats.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return int(7 / 2)
