# expect: CONTRACT_FAULT
# Leaving the interpreter early: no result means a failed transaction.
from jadechain import contract, callable
import sys


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        sys.exit(0)
