# expect: reject no-star-args
# {**x} calls keys() and __getitem__ on arbitrary objects.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len({**self.ctx})
