# expect: runtime ContractLimitExceeded max_bytes
# s += s doubles a string each iteration.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'ab'
        while True:
            s += s
        return 0
