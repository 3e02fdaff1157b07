# expect: CONTRACT_FAULT
# The documented double-spend shape: call back into yourself before writing the balance.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        me = self.ctx.address
        balance = self.ctx.get(me, "balance") or 10
        if self.ctx.call_depth < 2:
            self.ctx.call(me, "attack", [])
        return self.ctx.set(me, "balance", balance - 10, self.ctx.get_version(me, "balance"))
