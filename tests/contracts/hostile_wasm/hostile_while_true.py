# expect: OUT_OF_GAS
# The classic: no statement-level metering needed, fuel counts every instruction.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        while True:
            pass
