# expect: reject forbidden-builtin
# exec of attacker text.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        exec('import os')
        return 0
