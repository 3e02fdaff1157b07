# expect: reject no-try
# An exception object carries __traceback__.tb_frame.f_back: the host's frames.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        try:
            x = 1 // 0
        except Exception as e:
            return e.__traceback__
        return 0
