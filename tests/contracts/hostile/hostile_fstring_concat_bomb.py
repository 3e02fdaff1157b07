# expect: runtime ContractLimitExceeded max_bytes
# f-strings joining large parts are size-checked before joining.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'x' * 600000
        return len(f'{s}{s}')
