# expect: reject no-underscore-attribute
# Reach the host ContractContext behind the handle.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx._context
