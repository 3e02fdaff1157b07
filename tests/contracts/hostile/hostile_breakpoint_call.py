# expect: reject forbidden-builtin
# breakpoint() would enter pdb on the node.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        breakpoint()
        return 0
