# expect: reject no-raise
# Raising SystemExit would stop the node.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        raise SystemExit(1)
