# expect: CONTRACT_LIMIT_EXCEEDED|OUT_OF_GAS|CONTRACT_FAULT
# An event far over the size limit: the host checks the payload length before reading it.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.emit("x", "E" * 300000)
