# expect: reject no-try
# try/finally could run user code after the meter aborted the invocation.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        try:
            return 1
        finally:
            return 2
