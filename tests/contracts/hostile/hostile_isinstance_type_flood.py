# expect: runtime ContractFault
# isinstance with a 100k-item tuple of types.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return isinstance(1, (int,) * 100000)
