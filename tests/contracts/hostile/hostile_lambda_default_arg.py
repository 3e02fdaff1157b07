# expect: reject no-lambda
# Lambda default arguments capture objects at definition time.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        f = lambda c=self.ctx: c
        return f()
