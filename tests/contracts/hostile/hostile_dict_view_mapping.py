# expect: reject forbidden-attribute
# dict views expose .mapping, a proxy of the dict.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len({}.keys().mapping)
