# expect: runtime ContractLimitExceeded max_int_bits
# 10**10**10 must be refused before CPython computes it.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return 10**10**10
