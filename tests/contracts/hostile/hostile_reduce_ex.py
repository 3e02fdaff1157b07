# expect: reject no-underscore-attribute
# object.__reduce_ex__ returns copyreg internals.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.__reduce_ex__(2)
