# expect: reject no-generator
# A generator method would leak its frame to the caller.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        yield 1
