# expect: reject one-contract-class
# A helper class could define descriptors or operators.
from jadechain import contract, callable


class Helper:
    pass


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return 0
