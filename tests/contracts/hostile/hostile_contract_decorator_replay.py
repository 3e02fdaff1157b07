# expect: runtime ContractFault
# Calling @contract again at run time cannot replace the contract class.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        contract(Hostile)
        return 0
