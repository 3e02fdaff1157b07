# expect: runtime ContractLimitExceeded max_bytes
# 'x' * 10**9 must be refused before it allocates.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('x' * 10**9)
