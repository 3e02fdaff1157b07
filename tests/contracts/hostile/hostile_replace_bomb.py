# expect: runtime ContractLimitExceeded max_bytes
# replace multiplies length by the replacement size.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'a' * 2000
        return len(s.replace('a', s))
