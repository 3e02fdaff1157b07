# expect: reject forbidden-builtin
# vars(obj) returns an object's __dict__.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(vars(self))
