# expect: runtime ContractFault
# 2 ** -1 would produce a float.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = 2 ** -1
        return 0
