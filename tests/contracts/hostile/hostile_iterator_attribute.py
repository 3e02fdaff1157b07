# expect: runtime ContractFault
# Iterator objects have no attributes for contracts.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return enumerate([1]).count
