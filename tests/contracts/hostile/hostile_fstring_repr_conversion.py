# expect: reject fstring-conversion
# !r calls the host's __repr__ on arbitrary objects.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(f'{self.ctx!r}')
