# expect: reject no-generator
# Generator frames expose gi_frame.f_back.f_globals of the host.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        g = (x for x in [1])
        return g.gi_frame.f_back.f_globals
