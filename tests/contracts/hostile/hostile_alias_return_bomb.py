# expect: runtime ContractLimitExceeded max_items
# Returning an aliased structure would make the JSON encoder write 10^8 values.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        inner = [0] * 100000
        return [inner] * 1000
