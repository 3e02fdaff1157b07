# expect: CONTRACT_FAULT
# Dunders that lie (__index__, __len__, __eq__, __hash__) only confuse the contract itself.
from jadechain import contract, callable


class Liar:
    def __index__(self):
        return 10 ** 30

    def __len__(self):
        return -1

    def __hash__(self):
        return 1

    def __eq__(self, other):
        return True


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        table = {Liar(): 1, Liar(): 2}
        return [0, 1, 2][Liar()]
