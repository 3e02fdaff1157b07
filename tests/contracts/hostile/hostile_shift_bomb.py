# expect: runtime ContractLimitExceeded max_int_bits
# 1 << 10**9 allocates 125 MB in one step.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return 1 << 10**9
