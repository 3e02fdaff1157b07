"""Contract sources shared by the engine tests."""

from __future__ import annotations

KV = '''
from jadechain import contract, callable, event

@contract
class Registry:
    """Versioned key-value registry with an audit event."""

    @event
    def stored(self, key: str, version: int): ...

    @callable
    def put(self, account: str, key: str, value: str) -> int:
        version = self.ctx.get_version(account, key)
        new_version = self.ctx.set(account, key, value, version)
        self.stored(key=key, version=new_version)
        return new_version

    @callable
    def put_at(self, account: str, key: str, value: str, expected: int) -> int:
        return self.ctx.set(account, key, value, expected)

    @callable
    def fetch(self, account: str, key: str) -> str:
        value = self.ctx.get(account, key)
        if value is None:
            self.ctx.revert(f"no entry {key}")
        return value

    @callable
    def fetch_committed(self, account: str, key: str) -> str:
        return self.ctx.get(account, key, True)

    @callable
    def history(self, account: str, key: str) -> list:
        last = self.ctx.get_version(account, key)
        return [self.ctx.get_at(account, key, v) for v in range(last + 1)]

    @callable
    def put_then_revert(self, account: str, key: str) -> int:
        self.ctx.set(account, key, "doomed", self.ctx.get_version(account, key))
        self.ctx.revert("changed my mind")
        return 0

    @callable
    def spin(self, account: str, rounds: int) -> int:
        self.ctx.set(account, "before", "written", self.ctx.get_version(account, "before"))
        self.stored(key="before", version=0)
        total = 0
        for i in range(rounds):
            total += i
        return total
'''

CALLER = '''
from jadechain import contract, callable

@contract
class Caller:
    @callable
    def forward(self, callee: str, account: str, key: str, value: str) -> int:
        return self.ctx.call(callee, "put", [account, key, value])

    @callable
    def attempt(self, callee: str, account: str) -> dict:
        self.ctx.set(account, "caller-key", "kept", self.ctx.get_version(account, "caller-key"))
        first = self.ctx.try_call(callee, "put_then_revert", [account, "callee-key"])
        second = self.ctx.try_call(callee, "spin", [account, 10**9], 5000)
        return {"first": first, "second": second, "after": self.ctx.get(account, "caller-key")}

    @callable
    def must(self, callee: str, account: str) -> int:
        self.ctx.set(account, "caller-key", "lost", self.ctx.get_version(account, "caller-key"))
        return self.ctx.call(callee, "put_then_revert", [account, "callee-key"])

    @callable
    def recurse(self, me: str, depth: int) -> int:
        return self.ctx.call(me, "recurse", [me, depth + 1]) + 1

    @callable
    def recurse_soft(self, me: str, depth: int) -> int:
        result = self.ctx.try_call(me, "recurse_soft", [me, depth + 1])
        if result["ok"]:
            return result["value"]
        return depth
'''
