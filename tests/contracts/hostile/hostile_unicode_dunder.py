# expect: reject no-underscore-attribute
# Fullwidth low line NFKC-normalises to __class__.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self._＿class＿_
