# expect: CONTRACT_LIMIT_EXCEEDED|CONTRACT_FAULT
# Unbounded recursion: MicroPython's own stack check, the same on every node (fixed wasm stack).
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        def down(n):
            return down(n + 1) + 1
        return down(0)
