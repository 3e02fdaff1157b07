# expect: CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT|OUT_OF_GAS
# A deeply nested return value: the host bounds nesting before its JSON parser runs.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> list:
        value = []
        for i in range(5000):
            value = [value]
        return value
