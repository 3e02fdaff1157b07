# expect: reject forbidden-builtin
# eval of attacker text.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return eval('1 + 1')
