# expect: reject no-underscore-name
# __builtins__ lookup to get eval back.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return __builtins__['eval']('1')
