# expect: runtime ContractLimitExceeded max_memory
# Method results are counted against the memory budget too.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        s = 'x' * 1000000
        keep = []
        for i in range(1000):
            keep.append(s.upper())
        return len(keep)
