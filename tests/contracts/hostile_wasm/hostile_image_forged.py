# expect: reject
# The image build stops at the first "image" host call: a contract that makes it itself, at load
# time, with addresses of its choosing, would get an image resuming wherever they point. The build
# checks that the entry is a function of the right type; this one is not, so the deploy is refused
# (the same on every node: the build is deterministic), the host and chain intact, replays equal.
import host
host.call("image", "[0, 4]")

from jadechain import contract, callable


@contract
class Forged:
    @callable
    def attack(self) -> int:
        return 1
