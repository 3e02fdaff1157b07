# expect: reject no-try
# A bare except would swallow the engine's OutOfGas and loop forever.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        while True:
            try:
                pass
            except BaseException:
                pass
        return 0
