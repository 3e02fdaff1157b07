# expect: runtime ContractLimitExceeded max_memory
# Keep many distinct 1 MB copies alive: each is small enough, the total is not.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'x' * 1000000
        keep = []
        for i in range(1000):
            keep.append(s[i:])
        return len(keep)
