# expect: runtime ContractLimitExceeded max_bytes
# str.center pads inside C to any width.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('a'.center(10**9))
