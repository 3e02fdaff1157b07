# expect: runtime ContractLimitExceeded max_bytes
# bytes(n) allocates n zero bytes.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(bytes(10**9))
