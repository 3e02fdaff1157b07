# expect: CONTRACT_FAULT
# Raw pointers into (and past) the linear memory: wasm bounds checks turn it into a trap.
from jadechain import contract, callable
import uctypes


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        wild = uctypes.bytearray_at(0x7FFFFF00, 64)
        return wild[10]
