# expect: CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT
# Recursion hidden in a dunder that formatting calls.
from jadechain import contract, callable


class Loop:
    def __repr__(self):
        return "<" + repr(self) + ">"


@contract
class Hostile:
    @callable
    def attack(self) -> str:
        return repr(Loop())
