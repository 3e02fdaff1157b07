# expect: runtime OutOfGas
# The simplest denial of service.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        while True:
            pass
        return 0
