# expect: reject no-class-bases
# A metaclass runs host-level code at class creation.
from jadechain import contract, callable


@contract
class Hostile(metaclass=Meta):
    @callable
    def attack(self) -> int:
        return 0
