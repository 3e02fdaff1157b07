# expect: runtime OutOfGas
# insert(0, x) shifts the whole list each time: quadratic work is paid.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        l = []
        while True:
            l.insert(0, 1)
        return 0
