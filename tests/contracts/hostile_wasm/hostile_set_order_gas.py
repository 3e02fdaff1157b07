# expect: CONTRACT_REVERTED
# Set iteration order of objects hashed by address decides how much work is done before the
# revert: the gas recorded must still be the same on every node.
from jadechain import contract, callable


class Thing:
    pass


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        things = set(Thing() for i in range(300))
        order = [id(t) % 97 for t in things]
        work = 0
        for n in order[:50]:
            for i in range(n):
                work += i
        self.ctx.revert("order-dependent work: " + str(work))
        return work
