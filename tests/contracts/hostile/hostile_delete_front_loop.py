# expect: runtime OutOfGas
# del l[0] shifts the tail each time.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        l = [0] * 100000
        while True:
            del l[0]
            l.append(0)
        return 0
