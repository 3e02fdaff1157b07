# expect: runtime ContractFault
# Builtin functions have no attributes for contracts.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len.real
