# expect: runtime ContractLimitExceeded max_frames
# Unbounded self recursion, never reaching the host recursion limit.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.attack()
