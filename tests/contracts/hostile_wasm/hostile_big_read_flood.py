# expect: OUT_OF_GAS
# Reads of the biggest value a contract may store, in a loop: priced by the byte.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        me = self.ctx.address
        self.ctx.set(me, "big", "z" * 60000, self.ctx.get_version(me, "big"))
        while True:
            self.ctx.get(me, "big")
