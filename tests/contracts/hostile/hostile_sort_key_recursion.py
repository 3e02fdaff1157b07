# expect: runtime ContractLimitExceeded max_frames
# Recursion entered from C (sorted key) is still counted.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(sorted([3, 1, 2], key=self.key))

    def key(self, x):
        return self.key(x)
