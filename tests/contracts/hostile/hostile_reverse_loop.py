# expect: runtime OutOfGas
# list.reverse on 100k items in a loop.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        l = [0] * 100000
        while True:
            l.reverse()
        return 0
