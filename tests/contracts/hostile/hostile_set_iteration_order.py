# expect: reject no-set
# Set order of strings depends on the per-process hash seed.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(list({str(i) for i in range(9)}))
