# expect: reject forbidden-attribute
# str.format evaluates attribute paths: '{0.__class__}'.format(x).
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('{0.__class__.__init__.__globals__}'.format(self))
