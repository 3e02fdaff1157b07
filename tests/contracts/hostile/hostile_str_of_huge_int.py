# expect: runtime ContractLimitExceeded max_int_bits
# A 13,000-bit integer is refused before str() sees it.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(str(10**4000))
