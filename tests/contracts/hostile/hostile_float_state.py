# expect: reject no-float
# Floats are not deterministic across platforms.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.set('a', 'k', 0.1, -1)
