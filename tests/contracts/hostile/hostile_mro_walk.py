# expect: reject forbidden-attribute
# type.mro() lists base classes without underscores.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(int.mro())
