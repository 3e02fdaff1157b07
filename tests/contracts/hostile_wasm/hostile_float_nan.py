# expect: CONTRACT_FAULT
# Floats (and NaN payloads) never cross the boundary; inside, NaNs are canonicalised by the engine.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> dict:
        nan = float("nan")
        return {"x": nan * 0.5}
