# expect: runtime ContractLimitExceeded max_event_bytes
# One huge event.
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return self.ctx.emit('e', 'x' * 100000)
