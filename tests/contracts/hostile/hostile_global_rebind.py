# expect: reject no-global
# global lets a method rebind the meter's names.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        global len
        return 0
