# expect: reject no-underscore-attribute
# Classic escape: ().__class__.__bases__[0].__subclasses__() to reach every class in the host.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(().__class__.__bases__[0].__subclasses__())
