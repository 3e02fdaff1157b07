# expect: reject forbidden-builtin
# print writes to the node's stdout.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        print('hello')
        return 0
