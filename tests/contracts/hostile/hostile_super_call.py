# expect: reject no-underscore-attribute
# super() walks the MRO of the host object.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return super().__hash__()
