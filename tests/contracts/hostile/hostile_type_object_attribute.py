# expect: runtime ContractFault
# Attributes of type objects (str.join) are not on any allow-list.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(str.join(',', ['a']))
