# expect: reject no-match
# Class patterns read attributes by keyword (__class__=c).
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        match self:
            case Hostile(ctx=c):
                return 1
        return 0
