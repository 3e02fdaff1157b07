# expect: runtime ContractLimitExceeded max_items
# sorted(range(10**30)) is refused before materialising.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(sorted(range(10**30)))
