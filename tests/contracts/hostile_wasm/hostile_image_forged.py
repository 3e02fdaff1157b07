# expect: CONTRACT_FAULT|CONTRACT_LIMIT_EXCEEDED|OUT_OF_GAS
# The image build stops at the first "image" host call: a contract that makes it itself, at load
# time, with addresses of its choosing, gets an image that resumes wherever they point. That must
# stay inside its own invocation: a failed transaction, the host and chain intact, replays equal.
import host
host.call("image", "[0, 4]")

from jadechain import contract, callable


@contract
class Forged:
    @callable
    def attack(self) -> int:
        return 1
