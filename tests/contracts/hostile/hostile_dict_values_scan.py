# expect: runtime OutOfGas
# 'in' over dict.values() is a linear scan; it is paid per value.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        d = {}
        for i in range(50000):
            d[i] = i
        while True:
            x = -1 in d.values()
        return 0
