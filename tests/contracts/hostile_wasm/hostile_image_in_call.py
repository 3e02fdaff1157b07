# expect: CONTRACT_FAULT
# Asking for an image during an invocation: refused by the host (only an image build may).
import host
from jadechain import contract, callable


@contract
class Again:
    @callable
    def attack(self) -> int:
        host.call("image", "[0, 0]")
        return 1
