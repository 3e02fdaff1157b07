# expect: runtime ContractLimitExceeded max_int_bits
# Squaring in a loop doubles the size each time.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = 3
        for i in range(100):
            x = x * x
        return 0
