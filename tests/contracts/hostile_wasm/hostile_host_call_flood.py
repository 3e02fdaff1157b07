# expect: OUT_OF_GAS
# Many cheap host calls: each is priced before the host does any work.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        me = self.ctx.address
        while True:
            self.ctx.get_version(me, "k")
