# expect: reject decorator
# A decorator other than the API's (e.g. a property to get descriptors).
from jadechain import contract, callable


@contract
class Hostile:
    @cached
    @callable
    def attack(self) -> int:
        return 0
