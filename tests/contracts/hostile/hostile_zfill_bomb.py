# expect: runtime ContractLimitExceeded max_bytes
# str.zfill likewise.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('1'.zfill(10**9))
