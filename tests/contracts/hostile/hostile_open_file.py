# expect: reject forbidden-builtin
# Read a host file.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(open('/etc/passwd').read())
