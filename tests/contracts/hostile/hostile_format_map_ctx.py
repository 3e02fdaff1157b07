# expect: reject forbidden-attribute
# str.format_map reaches the handle's private context through the format mini-language.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len('{x._context}'.format_map({'x': self.ctx}))
