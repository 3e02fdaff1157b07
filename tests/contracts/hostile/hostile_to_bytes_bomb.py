# expect: runtime ContractLimitExceeded max_bytes
# int.to_bytes with a huge length.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len((1).to_bytes(10**9, 'big'))
