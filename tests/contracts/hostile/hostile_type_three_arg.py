# expect: reject forbidden-builtin
# type(name, bases, dict) creates classes with dunder methods.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        k = type('K', (), {'x': 1})
        return 0
