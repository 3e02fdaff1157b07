# expect: CONTRACT_FAULT
# No WASI capability: files, directories and the environment are not there.
from jadechain import contract, callable
import os


@contract
class Hostile:
    @callable
    def attack(self) -> list:
        return os.listdir("/")
