# expect: CONTRACT_FAULT|OUT_OF_GAS|CONTRACT_LIMIT_EXCEEDED
# An exception whose message is enormous: the guest truncates it, the host reads at most its cap.
from jadechain import contract, callable


class Loud(Exception):
    def __str__(self):
        return "A" * 400000


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        raise Loud()
