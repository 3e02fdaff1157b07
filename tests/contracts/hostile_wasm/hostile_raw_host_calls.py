# expect: CONTRACT_FAULT
# The raw host module with names and payloads the ABI never sends.
from jadechain import contract, callable
import host


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        host.call("set", '[["' + "x" * 2000 + '"], 1, 2]')
        return 1
