# expect: reject no-nested-function
# Closures and cell objects complicate frame accounting.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        def inner():
            return 1
        return inner()
