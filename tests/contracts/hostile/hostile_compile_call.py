# expect: reject forbidden-builtin
# compile() to build code objects.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        c = compile('1', 'x', 'eval')
        return 0
