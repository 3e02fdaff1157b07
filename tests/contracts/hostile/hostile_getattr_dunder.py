# expect: reject forbidden-builtin
# getattr with a computed dunder name.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return getattr(self, '__cla' + 'ss__')
