# expect: CONTRACT_REVERTED
# Interpreter error messages reach the chain only through the pinned engine: the same bytes on
# every node because the engine identity (module hash) is part of the ledger settings.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        try:
            {}["missing"] + 1
        except Exception as exc:
            message = type(exc).__name__ + ":" + str(exc)
        self.ctx.revert(message)
        return 0
