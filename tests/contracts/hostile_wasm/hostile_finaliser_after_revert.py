# expect: CONTRACT_REVERTED
# A finaliser that writes when the collector runs; the run is reverted and the VM is discarded,
# so the write can never land in this or any later transaction.
from jadechain import contract, callable
import gc


class Ghost:
    def __init__(self, ctx):
        self.ctx = ctx

    def __del__(self):
        self.ctx.set(self.ctx.address, "ghost", "haunted", -1)


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        for i in range(50):
            Ghost(self.ctx)
        gc.collect()
        self.ctx.revert("finalisers ran (or not) before this")
        return 0
