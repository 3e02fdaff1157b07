"""A counter: the contract of docs/contracts.md (unit-tested by test_counter.py, deployed unchanged)."""

from jadechain import Context, callable, contract, event

EVENTS = ["added"]


@contract
class Counter:
    ctx: Context

    @event
    def added(self, amount: int, total: int) -> None: ...

    @callable
    def add(self, amount: int) -> int:
        if amount <= 0:
            self.ctx.revert("amount must be positive")
        me = self.ctx.address
        total: int = (self.ctx.get(me, "total") or 0) + amount
        self.ctx.set(me, "total", total, self.ctx.get_version(me, "total"))
        self.added(amount=amount, total=total)
        return total

    @callable
    def total(self) -> int:
        value: int = self.ctx.get(self.ctx.address, "total") or 0
        return value
