# expect: reject no-async
# Coroutine frames (cr_frame) are another frame leak.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    async def attack(self) -> int:
        return 0
