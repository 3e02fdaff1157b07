# expect: reject forbidden-builtin
# Fullwidth letters NFKC-normalise to exec.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        ｅｘｅｃ('1')
        return 0
