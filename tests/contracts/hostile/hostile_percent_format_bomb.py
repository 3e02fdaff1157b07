# expect: runtime ContractFault
# '%*d' pads to a width from the arguments.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('%*d' % (10**9, 1))
