# expect: reject no-underscore-name
# __import__ by name.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return __import__('os').getpid()
