# expect: reject forbidden-import
# Plain import of a host module.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        import os
        return os.system('true')
