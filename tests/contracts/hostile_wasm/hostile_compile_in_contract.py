# expect: OUT_OF_GAS|CONTRACT_FAULT|CONTRACT_LIMIT_EXCEEDED
# Compiling code at run time is ordinary metered work in the guest.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        n = 0
        while True:
            exec("x = " + "+".join(["1"] * 500))
            n += 1
