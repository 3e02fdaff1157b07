# expect: reject forbidden-builtin
# globals() exposes the sandbox helpers and the API objects.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(globals())
