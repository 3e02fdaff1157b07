# expect: runtime ContractLimitExceeded max_bytes
# bytes.ljust likewise.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(b'a'.ljust(10**9))
