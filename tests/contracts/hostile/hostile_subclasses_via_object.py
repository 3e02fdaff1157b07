# expect: reject no-underscore-attribute
# Walk object.__subclasses__() looking for os._wrap_close.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        for cls in object.__subclasses__():
            pass
        return 0
