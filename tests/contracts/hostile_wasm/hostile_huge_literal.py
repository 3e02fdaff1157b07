# expect: reject
# A literal the compiler folds into an enormous integer at load time: the load budget refuses it.
from jadechain import contract, callable

HUGE = 7 ** (10 ** 6)


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return HUGE % 10
