# expect: reject no-lambda
# A decorator expression that runs attacker code at class creation.
from jadechain import contract, callable


@contract
class Hostile:
    @(lambda f: f)
    def attack(self) -> int:
        return 0
