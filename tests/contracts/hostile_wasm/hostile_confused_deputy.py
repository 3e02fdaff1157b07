# expect: PERMISSION_DENIED
# Write into the invoker's own data account (the test puts its address in VICTIM_ADDRESS):
# the contract never borrows the signer's authority.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.set("VICTIM_ADDRESS", "counter", 1, -1)
