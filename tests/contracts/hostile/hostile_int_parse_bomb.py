# expect: runtime ContractLimitExceeded max_int_bits
# int() of a long digit string is quadratic in CPython.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return int('9' * 5000)
