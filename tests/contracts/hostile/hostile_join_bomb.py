# expect: runtime ContractLimitExceeded max_bytes
# join of many large strings.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'x' * 1000
        return len(''.join([s] * 10000))
