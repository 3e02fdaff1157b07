# expect: reject no-with
# Context managers call __enter__/__exit__ and can suppress exceptions.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        with self.ctx:
            pass
        return 0
