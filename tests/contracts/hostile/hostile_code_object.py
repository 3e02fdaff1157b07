# expect: reject no-underscore-attribute
# __code__ would let the contract rewrite its own bytecode.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.attack.__code__
