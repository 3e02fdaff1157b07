# expect: runtime OutOfGas
# Nested comprehensions multiply iterations; every one is metered.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len([[j for j in range(10000)] for i in range(10000)])
