# expect: runtime ContractLimitExceeded max_value_depth
# A deeply nested value would recurse in the JSON encoder.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        x = []
        for i in range(5000):
            x = [x]
        return x
