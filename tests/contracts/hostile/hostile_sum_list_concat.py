# expect: runtime ContractFault
# sum(lists, []) is quadratic list concatenation.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(sum([[1]] * 1000, []))
