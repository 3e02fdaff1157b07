# expect: runtime ContractLimitExceeded max_frames
# Two helpers calling each other.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ping(0)

    def ping(self, n):
        return self.pong(n + 1)

    def pong(self, n):
        return self.ping(n + 1)
