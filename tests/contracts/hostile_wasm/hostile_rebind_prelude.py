# expect: CONTRACT_FAULT
# The contract rebinds the ABI helpers of its prelude to send forged payloads; the host checks
# every payload and refuses malformed bytes values.
from jadechain import contract, callable

_jce = lambda v: ["b", "not hex at all"]


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.set(self.ctx.address, "k", "v", -1)
