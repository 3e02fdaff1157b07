# expect: runtime ContractFault
# A tuple key in a dict literal.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        t = (0,) * 100000
        d = {t: 1}
        return 0
