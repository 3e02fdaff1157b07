# expect: reject fstring-format-spec
# A format spec pads to a billion characters inside the C formatter.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(f'{1:>1000000000}')
