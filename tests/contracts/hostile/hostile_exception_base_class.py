# expect: reject forbidden-builtin
# Subclassing an exception type to get raise/catch machinery.
from jadechain import contract, callable


@contract
class Hostile(Exception):
    @callable
    def attack(self) -> int:
        return 0
