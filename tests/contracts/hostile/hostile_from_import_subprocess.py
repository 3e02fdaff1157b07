# expect: reject forbidden-import
# from-import of a host module inside a method.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        from subprocess import run
        return 0
