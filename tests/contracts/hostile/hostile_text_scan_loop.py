# expect: runtime OutOfGas
# str.find over 1 MB in a loop: scans are paid per 64 bytes.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'a' * 1000000
        while True:
            s.find('b')
        return 0
