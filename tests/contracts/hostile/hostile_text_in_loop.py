# expect: runtime OutOfGas
# 'in' over 1 MB text in a loop.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'a' * 1000000
        while True:
            x = 'b' in s
        return 0
