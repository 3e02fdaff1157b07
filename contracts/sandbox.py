"""The run-time half of the sandbox: the gas meter and the guards the instrumented code calls.

One ``Sandbox`` exists per invocation. It owns the ``Meter`` (gas, cumulative
allocation, frame count) and builds the globals the contract module executes
in: the guard helpers under ``_`` names, the contract API (``contract``,
``callable``, ``event``) and a ``__builtins__`` dict holding only guarded
versions of the allowed builtins. Nothing else of the host is reachable:

* attribute access goes through ``_attr``, an allow-list per exact type (the
  contract instance, the context handle, str/bytes/list/dict/int/tuple); any
  other object (functions, types, iterators, bound methods) has no attributes;
* every operation that can build a large value checks the size *before*
  building it (``'x' * n``, ``a ** b``, ``a << b``, ``str.join``, ``center``,
  ``int.to_bytes``...) and adds the result to the invocation's allocation total;
* iteration inside builtins and comprehensions is metered item by item.

Gas is charged in integers from a fixed schedule, so the same invocation costs
the same on every node and in every process.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ledger.errors import ContractFault, ContractLimitExceeded, OutOfGas

from contracts.instrument import (
    ATTR, AUG, AUG_ITEM, BINOP, COMPARE, COMPARE_COST, CONCAT, DELETE_ITEM, ENTER, FORMAT, GAS, ITERATE, KEY, LEAVE,
    MAKE_SLICE, SET_ITEM, SLICE,
)
from contracts.limits import GasSchedule, SandboxLimits
from contracts.policy import ContractSpec

if TYPE_CHECKING:
    from contracts.handle import ContractHandle

TEXT_ENCODINGS = frozenset({"utf-8", "utf8", "ascii", "latin-1", "latin1"})

_BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow, "<<": operator.lshift, ">>": operator.rshift,
    "|": operator.or_, "^": operator.xor, "&": operator.and_,
}
_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.iadd, "|": operator.ior,
}

_LINEAR_INT_OPERATORS = frozenset({"+", "-", "//", "%", "&", "|", "^", ">>"})
_SEQUENCES = (str, bytes, list, tuple)
_INTEGERS = (int, bool)
_SCALARS = frozenset({int, bool, str, bytes, type(None)})
_CONTAINERS = frozenset({list, tuple, dict})
_KEY_TYPES = frozenset({int, bool, str, bytes, type(None)})
_DICT_VIEWS = frozenset({type({}.keys()), type({}.values()), type({}.items())})
_MEMBERSHIP_SIZED = frozenset({list, tuple, str, bytes, dict, range}) | _DICT_VIEWS
"""Right operands of ``in`` that do not consume an iterator (anything else is materialised, metered)."""
_COMPARE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
TEXT_SCAN_BYTES_PER_GAS = 64
VALUES_PER_GAS = 8


class Meter:
    """Gas used, bytes allocated and frames alive for one invocation."""

    __slots__ = ("limit", "used", "allocated", "frames", "gas", "limits")

    def __init__(self, limit: int, gas: GasSchedule, limits: SandboxLimits, frames: int = 0) -> None:
        self.limit = limit
        self.used = 0
        self.allocated = 0
        self.frames = frames
        self.gas = gas
        self.limits = limits

    def charge(self, amount: int) -> None:
        """Add ``amount`` gas; past the limit, use it all and raise ``OutOfGas``."""
        self.used += amount
        if self.used > self.limit:
            self.used = self.limit
            raise OutOfGas(f"out of gas (limit {self.limit})", gas_used=self.limit, gas_limit=self.limit)

    def allocate(self, size: int) -> None:
        """Count ``size`` bytes against the invocation's memory budget and charge gas for them."""
        self.allocated += size
        if self.allocated > self.limits.max_memory:
            raise ContractLimitExceeded(
                f"invocation allocated more than {self.limits.max_memory} bytes", limit="max_memory"
            )
        self.charge(size // self.gas.alloc_bytes_per_gas)


class MeteredIterator:
    """Wraps an iterator: gas per item, and at most ``max_items`` items (comprehensions, builtins)."""

    __slots__ = ("inner", "meter", "cost", "count")

    def __init__(self, inner: Iterator[object], meter: Meter, cost: int) -> None:
        self.inner = inner
        self.meter = meter
        self.cost = cost
        self.count = 0

    def __iter__(self) -> "MeteredIterator":
        return self

    def __next__(self) -> object:
        item = next(self.inner)
        self.count += 1
        meter = self.meter
        if self.count > meter.limits.max_items:
            raise ContractLimitExceeded(f"iteration over more than {meter.limits.max_items} items", limit="max_items")
        meter.allocated += 8  # one reference in whatever is being built
        if meter.allocated > meter.limits.max_memory:
            meter.allocate(0)
        meter.charge(self.cost)
        return item


def fault(message: str) -> ContractFault:
    return ContractFault(message)


def limit_error(message: str, limit: str) -> ContractLimitExceeded:
    return ContractLimitExceeded(message, limit=limit)


class Sandbox:
    """The guards and globals of one invocation."""

    def __init__(self, meter: Meter, spec: ContractSpec) -> None:
        self.meter = meter
        self.limits = meter.limits
        self.gas = meter.gas
        self.spec = spec
        self.handle: ContractHandle | None = None
        self.contract_class: type | None = None
        self._wrapped_types: dict[object, type] = {}

    # --- sizes ---------------------------------------------------------------

    def check_size(self, value: Any) -> None:
        """Raise if one value is over a size limit (no allocation is counted)."""
        kind = type(value)
        limits = self.limits
        if kind is str or kind is bytes:
            if len(value) > limits.max_bytes:
                raise limit_error(f"string of {len(value)} exceeds {limits.max_bytes} bytes", "max_bytes")
        elif kind is int:
            if value.bit_length() > limits.max_int_bits:
                raise limit_error(f"integer exceeds {limits.max_int_bits} bits", "max_int_bits")
        elif kind is list or kind is tuple or kind is dict:
            if len(value) > limits.max_items:
                raise limit_error(f"container exceeds {limits.max_items} items", "max_items")

    def account(self, value: Any) -> Any:
        """Check a freshly built value and add it to the allocation total; return it."""
        kind = type(value)
        if kind is str or kind is bytes:
            self.check_size(value)
            self.meter.allocate(len(value))
        elif kind is list or kind is tuple:
            self.check_size(value)
            self.meter.allocate(8 * len(value))
        elif kind is dict:
            self.check_size(value)
            self.meter.allocate(32 * len(value))
        elif kind is int:
            self.check_size(value)
        return value

    def _precheck_length(self, kind: type, length: int) -> None:
        if kind is str or kind is bytes:
            if length > self.limits.max_bytes:
                raise limit_error(f"result of {length} bytes exceeds {self.limits.max_bytes}", "max_bytes")
        elif length > self.limits.max_items:
            raise limit_error(f"result of {length} items exceeds {self.limits.max_items}", "max_items")

    def _precheck_bits(self, bits: int) -> None:
        if bits > self.limits.max_int_bits:
            raise limit_error(f"integer result would exceed {self.limits.max_int_bits} bits", "max_int_bits")

    def materialize(self, iterable: Any) -> Any:
        """A sized collection from ``iterable``, paying gas per item before the work is done."""
        kind = type(iterable)
        if kind in (list, tuple, str, bytes, dict):
            size = len(iterable)
            self.meter.charge(size * self.gas.loop_iteration)
            return iterable
        if kind is range:
            assert isinstance(iterable, range)
            try:
                size = len(iterable)
            except OverflowError:
                raise limit_error("range too long", "max_items") from None
            self.meter.charge(size * self.gas.loop_iteration)
            self._precheck_length(list, size)
            return list(iterable)
        if kind is MeteredIterator:
            raise fault("internal iterator cannot be consumed here")
        items = list(MeteredIterator(iter(iterable), self.meter, self.gas.loop_iteration))
        self.account(items)
        return items

    # --- structural work ------------------------------------------------------------

    def deep_size(self, value: Any) -> int:
        """How many values an ``==``, ``in`` or sort may touch in ``value`` (aliases counted each time).

        Flat containers are measured at C speed; nested ones are walked, and a walk past
        ``max_items`` values stops the contract (the comparison itself would be that large).
        """
        kind = type(value)
        if kind in _SCALARS:
            return len(value) // TEXT_SCAN_BYTES_PER_GAS if kind is str or kind is bytes else 0
        if kind in _DICT_VIEWS:
            return len(value)
        if kind not in _CONTAINERS:
            return 1
        items = value.values() if kind is dict else value
        if set(map(type, items)) <= _SCALARS:
            return len(value) + (len(value) if kind is dict else 0)
        limit = self.limits.max_items
        total = 0
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            total += 1
            if total > limit:
                raise limit_error(f"operation over more than {limit} nested values", "max_items")
            item_kind = type(item)
            if item_kind is list or item_kind is tuple:
                stack.extend(item)
            elif item_kind is dict:
                stack.extend(item.values())
                total += len(item)
        return total

    def charge_values(self, *values: object) -> None:
        cost = 0
        for value in values:
            if type(value) not in _INTEGERS and value is not None:
                cost += self.deep_size(value)
        if cost:
            self.meter.charge(cost // VALUES_PER_GAS)

    def compare(self, symbol: str, left: Any, right: Any) -> object:
        """One comparison; containers and long text pay for the values compared."""
        lt, rt = type(left), type(right)
        if lt in _INTEGERS and rt in _INTEGERS:
            return _COMPARE_OPERATORS[symbol](left, right)
        if symbol == "in" or symbol == "not in":
            if rt not in _MEMBERSHIP_SIZED:
                # an iterator (zip, enumerate, reversed...): 'in' would consume it in C, unmetered
                right = self.materialize(right)
                rt = type(right)
            if rt is dict:
                self.charge_values(left)
                self.key(left)
            elif rt is str or rt is bytes:
                self.meter.charge(len(right) // TEXT_SCAN_BYTES_PER_GAS)
            else:
                self.charge_values(left, right)
            found = left in right
            return found if symbol == "in" else not found
        self.charge_values(left, right)
        return _COMPARE_OPERATORS[symbol](left, right)

    def compare_cost(self, operand: Any) -> Any:
        """An operand of a chained comparison: charge for it, hand it back unchanged."""
        self.charge_values(operand)
        return operand

    def key(self, key: Any) -> Any:
        """Dict keys are scalars: hashing them is O(1) amortised, never a hidden deep walk."""
        if type(key) not in _KEY_TYPES:
            raise fault(f"dict keys must be str, int, bytes, bool or None, not '{type(key).__name__}'")
        return key

    # --- gas and frames ---------------------------------------------------------

    def enter(self) -> None:
        meter = self.meter
        meter.charge(self.gas.function_entry)
        meter.frames += 1
        if meter.frames > self.limits.max_frames:
            raise limit_error(f"more than {self.limits.max_frames} nested function calls", "max_frames")

    def leave(self, value: Any) -> object:
        self.meter.frames -= 1
        return value

    # --- operators -------------------------------------------------------------

    def binop(self, symbol: str, left: Any, right: Any) -> object:
        self.meter.charge(self.gas.operator)
        if type(left) is int and type(right) is int and symbol in _LINEAR_INT_OPERATORS:
            # fast path: these results are at most one bit longer than the operands
            if symbol == "+":
                result = left + right
            elif symbol == "-":
                result = left - right
            else:
                try:
                    result = _BINARY_OPERATORS[symbol](left, right)
                except ZeroDivisionError:
                    raise fault("division by zero") from None
            if result.bit_length() > self.limits.max_int_bits:
                self.check_size(result)
            return result
        self._precheck_binop(symbol, left, right)
        try:
            result = _BINARY_OPERATORS[symbol](left, right)
        except ZeroDivisionError:
            raise fault("division by zero") from None
        if type(result) is float:
            raise fault("operation produced a float")
        return self.account(result)

    def _precheck_binop(self, symbol: str, left: Any, right: Any) -> None:
        lt, rt = type(left), type(right)
        if symbol == "*":
            if lt in _SEQUENCES and rt in _INTEGERS:
                self._precheck_length(lt, len(left) * max(0, right))
            elif rt in _SEQUENCES and lt in _INTEGERS:
                self._precheck_length(rt, len(right) * max(0, left))
            elif lt in _INTEGERS and rt in _INTEGERS:
                self._precheck_bits(left.bit_length() + right.bit_length() - 1)
        elif symbol == "**":
            if lt in _INTEGERS and rt in _INTEGERS:
                if right < 0:
                    raise fault("negative exponents would produce a float")
                if abs(left) > 1:
                    self._precheck_bits((left.bit_length() - 1) * right)
            else:
                raise fault("** takes integers")
        elif symbol == "<<":
            if lt in _INTEGERS and rt in _INTEGERS and left != 0 and right > 0:
                self._precheck_bits(left.bit_length() + right)
        elif symbol == "%":
            if lt is str or lt is bytes:
                raise fault("%-formatting is not available; use f-strings or +")
        elif symbol == "+":
            if lt is rt and lt in _SEQUENCES:
                self._precheck_length(lt, len(left) + len(right))
        elif symbol == "|":
            if lt is dict and rt is dict:
                self._precheck_length(dict, len(left) + len(right))

    def augmented(self, symbol: str, left: Any, right: Any) -> object:
        """``left op= right``, in place for lists and dicts as Python does, size-checked first."""
        if type(left) is int:
            return self.binop(symbol, left, right)
        if type(left) is list and symbol == "+":
            self.meter.charge(self.gas.operator)
            added = right if type(right) in (list, tuple) else self.materialize(right)
            self._precheck_length(list, len(left) + len(added))
            left.extend(added)
            self.meter.allocate(8 * len(added))
            return left
        if type(left) is dict and symbol == "|":
            self.meter.charge(self.gas.operator)
            if type(right) is not dict:
                raise fault("|= on a dict takes a dict")
            self._precheck_length(dict, len(left) + len(right))
            left.update(right)
            self.meter.allocate(32 * len(right))
            return left
        return self.binop(symbol, left, right)

    def set_item(self, target: Any, key: Any, value: Any) -> None:
        self.meter.charge(self.gas.operator)
        kind = type(target)
        if kind is dict:
            assert isinstance(target, dict)
            self.key(key)
            if key not in target:
                self._precheck_length(dict, len(target) + 1)
                self.meter.allocate(32)
            target[key] = value
        elif kind is list:
            assert isinstance(target, list)
            if type(key) is slice:
                items = value if type(value) in (list, tuple) else self.materialize(value)
                self.meter.charge(len(target) // VALUES_PER_GAS)
                removed = len(range(*key.indices(len(target))))
                self._precheck_length(list, len(target) - removed + len(items))
                self.meter.allocate(8 * len(items))
                target[key] = items
            else:
                target[key] = value
        else:
            raise fault(f"'{kind.__name__}' does not support item assignment")

    def delete_item(self, target: Any, key: Any) -> None:
        self.meter.charge(self.gas.operator)
        if type(target) is list:
            self.meter.charge(len(target) // VALUES_PER_GAS)
        del target[key]

    def augmented_item(self, target: Any, key: Any, symbol: str, value: Any) -> None:
        current = target[key]
        self.set_item(target, key, self.augmented(symbol, current, value))

    def make_slice(self, lower: Any, upper: Any, step: Any) -> slice:
        for bound in (lower, upper, step):
            if bound is not None and type(bound) not in _INTEGERS:
                raise fault("slice bounds must be integers")
        return slice(lower, upper, step)

    def slice(self, target: Any, lower: Any, upper: Any, step: Any) -> object:
        self.meter.charge(self.gas.operator)
        return self.account(target[self.make_slice(lower, upper, step)])

    def concat(self, *parts: str) -> Any:
        self._precheck_length(str, sum(len(part) for part in parts))
        return self.account("".join(parts))

    def format_value(self, value: Any) -> Any:
        """``str(value)`` for the types whose text is bounded and has no side door."""
        kind = type(value)
        if kind is str:
            return value
        if kind in _INTEGERS or value is None:
            return self.account(str(value))
        if kind is bytes:
            self._precheck_length(str, 4 * len(value) + 3)
            return self.account(str(value))
        raise fault(f"cannot format a '{kind.__name__}' as text; format its items")

    def iterate(self, iterable: Any, cost: int) -> MeteredIterator:
        return MeteredIterator(iter(iterable), self.meter, cost)

    # --- attributes --------------------------------------------------------------

    def attribute(self, obj: Any, name: str) -> object:
        self.meter.charge(self.gas.attribute)
        kind = type(obj)
        table = _TYPE_ATTRIBUTES.get(kind)
        if table is not None:
            if name not in table:
                raise fault(f"'{kind.__name__}' has no attribute '{name}' available to contracts")
            guard = table[name]
            bound = getattr(obj, name)
            if guard is None:
                if kind is str or kind is bytes:
                    self.meter.charge(len(obj) // TEXT_SCAN_BYTES_PER_GAS)
                elif name == "reverse" or name == "clear":
                    self.meter.charge(len(obj) // VALUES_PER_GAS)
                return bound
            return guard(self, obj, bound)
        handle = self.handle
        if handle is not None and obj is handle:
            return handle.api_attribute(name)
        if self.contract_class is not None and kind is self.contract_class:
            if name == "ctx":
                return handle
            event = self.spec.events.get(name)
            if event is not None:
                assert handle is not None
                return handle.event_emitter(event)
            if name in self.spec.members:
                return getattr(obj, name)
        raise fault(f"'{kind.__name__}' has no attribute '{name}' available to contracts")

    # --- the contract API (``from jadechain import ...``) ------------------------

    def api_contract(self, cls: Any) -> object:
        if self.contract_class is not None or not isinstance(cls, type):
            raise fault("@contract decorates the contract class, once")
        self.contract_class = cls
        return cls

    @staticmethod
    def api_callable(function: Any) -> object:
        return function

    @staticmethod
    def api_event(function: Any) -> object:
        return function

    # --- builtins ------------------------------------------------------------------

    def b_str(self, value: Any = "", encoding: Any = None) -> Any:
        self.meter.charge(self.gas.call)
        if encoding is not None:
            if type(value) is not bytes:
                raise fault("str(x, encoding) takes bytes")
            return self._decode(value, encoding)
        return self.format_value(value)

    def _decode(self, data: bytes, encoding: Any = "utf-8", errors: Any = "strict") -> Any:
        if encoding not in TEXT_ENCODINGS or errors != "strict":
            raise fault(f"only {sorted(TEXT_ENCODINGS)} with errors='strict' are available")
        return self.account(data.decode(encoding))

    def _encode(self, text: str, encoding: Any = "utf-8", errors: Any = "strict") -> Any:
        if encoding not in TEXT_ENCODINGS or errors != "strict":
            raise fault(f"only {sorted(TEXT_ENCODINGS)} with errors='strict' are available")
        self._precheck_length(bytes, 4 * len(text))
        return self.account(text.encode(encoding))

    def b_int(self, value: Any = 0, base: Any = None) -> Any:
        self.meter.charge(self.gas.call)
        kind = type(value)
        if kind is str or kind is bytes:
            if len(value) > 1300:
                raise limit_error("integer text too long", "max_int_bits")
            result = int(value, 10 if base is None else base)
        elif kind in _INTEGERS and base is None:
            result = int(value)
        else:
            raise fault(f"int() takes an int or text, not '{kind.__name__}'")
        return self.account(result)

    def b_bytes(self, value: Any = b"", encoding: Any = None) -> Any:
        self.meter.charge(self.gas.call)
        kind = type(value)
        if encoding is not None:
            if kind is not str:
                raise fault("bytes(x, encoding) takes a str")
            return self._encode(value, encoding)
        if kind in _INTEGERS:
            if value < 0:
                raise fault("negative count")
            self._precheck_length(bytes, value)
            return self.account(bytes(value))
        if kind is bytes:
            return value
        if kind is str:
            raise fault("bytes(str) needs an encoding")
        items = self.materialize(value)
        return self.account(bytes(items))

    def b_list(self, iterable: Any = ()) -> Any:
        self.meter.charge(self.gas.call)
        return self.account(list(self.materialize(iterable)))

    def b_dict(self, source: Any = None, **pairs: Any) -> Any:
        self.meter.charge(self.gas.call)
        result: dict[object, object] = {}
        if source is not None:
            if type(source) is dict:
                self.meter.charge(len(source) * self.gas.loop_iteration)
                result = dict(source)
            else:
                result = dict(self.materialize(source))
                for key in result:
                    self.key(key)
        result.update(pairs)
        return self.account(result)

    def b_sorted(self, iterable: Any, key: Any = None, reverse: Any = False) -> Any:
        self.meter.charge(self.gas.call)
        items = list(self.materialize(iterable))
        self._charge_sort(len(items))
        self.charge_values(items)
        items.sort(key=key, reverse=bool(reverse))
        return self.account(items)

    def _charge_sort(self, count: int) -> None:
        self.meter.charge(self.gas.sort_item * count * max(1, count.bit_length()))

    def b_min(self, *args: Any, **options: Any) -> object:
        self.meter.charge(self.gas.call)
        items = self.materialize(args[0]) if len(args) == 1 else args
        self.charge_values(items)
        return min(items, **options)

    def b_max(self, *args: Any, **options: Any) -> object:
        self.meter.charge(self.gas.call)
        items = self.materialize(args[0]) if len(args) == 1 else args
        self.charge_values(items)
        return max(items, **options)

    def b_sum(self, iterable: Any, start: Any = 0) -> Any:
        self.meter.charge(self.gas.call)
        total = start
        if type(total) not in _INTEGERS:
            raise fault("sum() adds integers")
        for item in self.materialize(iterable):
            if type(item) not in _INTEGERS:
                raise fault("sum() adds integers")
            total = self.binop("+", total, item)
        return total

    def b_any(self, iterable: Any) -> bool:
        self.meter.charge(self.gas.call)
        return any(self.iterate(iterable, self.gas.loop_iteration))

    def b_all(self, iterable: Any) -> bool:
        self.meter.charge(self.gas.call)
        return all(self.iterate(iterable, self.gas.loop_iteration))

    def b_range(self, *args: Any) -> range:
        for argument in args:
            if type(argument) not in _INTEGERS:
                raise fault("range() takes integers")
        return range(*args)

    def b_isinstance(self, value: Any, types: Any) -> bool:
        wanted = types if type(types) is tuple else (types,)
        if len(wanted) > 8:
            raise fault("isinstance() takes at most 8 types")
        real: list[type] = []
        for candidate in wanted:
            mapped = self._wrapped_types.get(candidate)
            if mapped is None:
                raise fault("isinstance() takes the builtin types str, int, bool, bytes, list, dict")
            real.append(mapped)
        return isinstance(value, tuple(real))

    def b_chr(self, code: Any) -> Any:
        if type(code) is not int:
            raise fault("chr() takes an int")
        return chr(code)

    def make_globals(self) -> dict[str, object]:
        """The module namespace the contract executes in; the only door to the host."""
        safe_builtins: dict[str, object] = {
            "__build_class__": builtins.__build_class__,
            "len": len, "abs": abs, "bool": bool, "ord": ord, "chr": self.b_chr,
            "enumerate": enumerate, "zip": zip, "reversed": reversed,
            "range": self.b_range, "min": self.b_min, "max": self.b_max, "sum": self.b_sum,
            "sorted": self.b_sorted, "int": self.b_int, "str": self.b_str, "bytes": self.b_bytes,
            "list": self.b_list, "dict": self.b_dict, "isinstance": self.b_isinstance,
            "any": self.b_any, "all": self.b_all,
        }
        self._wrapped_types = {
            safe_builtins["int"]: int, safe_builtins["str"]: str, safe_builtins["bytes"]: bytes,
            safe_builtins["list"]: list, safe_builtins["dict"]: dict, bool: bool,
        }
        return {
            "__builtins__": safe_builtins,
            "__name__": "contract",
            GAS: self.meter.charge,
            ENTER: self.enter,
            LEAVE: self.leave,
            ATTR: self.attribute,
            BINOP: self.binop,
            AUG: self.augmented,
            AUG_ITEM: self.augmented_item,
            SET_ITEM: self.set_item,
            SLICE: self.slice,
            MAKE_SLICE: self.make_slice,
            CONCAT: self.concat,
            FORMAT: self.format_value,
            ITERATE: self.iterate,
            COMPARE: self.compare,
            COMPARE_COST: self.compare_cost,
            KEY: self.key,
            DELETE_ITEM: self.delete_item,
            "contract": self.api_contract,
            "callable": self.api_callable,
            "event": self.api_event,
        }


# --- method guards: (sandbox, receiver, bound method) -> what the contract gets ---

Guard = Callable[[Sandbox, Any, Any], object] | None


def _post(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """Methods whose result is at most a small multiple of the receiver: account afterwards."""

    def call(*args: Any, **kwargs: Any) -> object:
        return sandbox.account(bound(*args, **kwargs))

    return call


def _width(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """center/ljust/rjust/zfill: the width argument decides the size, check it first."""

    def call(width: Any, *args: Any) -> object:
        if type(width) is not int:
            raise fault("width must be an int")
        sandbox._precheck_length(type(receiver), width)
        return sandbox.account(bound(width, *args))

    return call


def _replace(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(old: Any, new: Any, count: Any = -1) -> object:
        if type(old) is not type(receiver) or type(new) is not type(receiver) or type(count) is not int:
            raise fault("replace() takes two values of the receiver's type and an int count")
        occurrences = receiver.count(old) if old else len(receiver) + 1
        if count >= 0:
            occurrences = min(occurrences, count)
        grow = max(0, len(new) - len(old))
        sandbox._precheck_length(type(receiver), len(receiver) + occurrences * grow)
        return sandbox.account(bound(old, new, count))

    return call


def _join(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(iterable: Any) -> object:
        items = sandbox.materialize(iterable)
        total = 0
        for item in items:
            if type(item) is not type(receiver):
                raise fault("join() takes items of the separator's type")
            total += len(item) + len(receiver)
        sandbox._precheck_length(type(receiver), total)
        return sandbox.account(bound(items))

    return call


def _encode(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(encoding: Any = "utf-8", errors: Any = "strict") -> object:
        return sandbox._encode(receiver, encoding, errors)

    return call


def _decode(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(encoding: Any = "utf-8", errors: Any = "strict") -> object:
        return sandbox._decode(receiver, encoding, errors)

    return call


def _to_bytes(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(length: Any = 1, byteorder: Any = "big", *, signed: Any = False) -> object:
        if type(length) is not int or byteorder not in ("big", "little") or type(signed) is not bool:
            raise fault("to_bytes(length: int, 'big'|'little', signed=bool)")
        sandbox._precheck_length(bytes, length)
        return sandbox.account(bound(length, byteorder, signed=signed))

    return call


def _insert(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """list.insert: one more item, and the tail shifts (paid per item moved, at most)."""

    def call(index: object, value: object) -> object:
        sandbox._precheck_length(list, len(receiver) + 1)
        sandbox.meter.allocate(8)
        sandbox.meter.charge(len(receiver) // VALUES_PER_GAS)
        return bound(index, value)

    return call


def _pop(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """list.pop: free at the end, a tail shift anywhere else."""

    def call(*args: object) -> object:
        if args and args[0] != -1:
            sandbox.meter.charge(len(receiver) // VALUES_PER_GAS)
        return bound(*args)

    return call


def _grow_one(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """list.append: one more item."""

    def call(*args: Any) -> object:
        sandbox._precheck_length(list, len(receiver) + 1)
        sandbox.meter.allocate(8)
        return bound(*args)

    return call


def _extend(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(iterable: Any) -> object:
        sandbox.augmented("+", receiver, iterable)
        return None

    return call


def _sort(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(*, key: Any = None, reverse: Any = False) -> object:
        sandbox._charge_sort(len(receiver))
        sandbox.charge_values(receiver)
        return bound(key=key, reverse=bool(reverse))

    return call


def _update(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(other: Any) -> object:
        if type(other) is not dict:
            other = sandbox.b_dict(other)
        sandbox.augmented("|", receiver, other)
        return None

    return call


def _setdefault(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    def call(key: Any, default: Any = None) -> object:
        sandbox.key(key)
        if key not in receiver:
            sandbox._precheck_length(dict, len(receiver) + 1)
            sandbox.meter.allocate(32)
        return bound(key, default)

    return call


def _scan(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """list/tuple index, count, remove: element comparisons are paid like ``==``."""

    def call(value: object, *args: object) -> object:
        sandbox.charge_values(receiver, value)
        return bound(value, *args)

    return call


def _keyed(sandbox: Sandbox, receiver: Any, bound: Any) -> object:
    """dict get / pop: the key must be a scalar (see ``Sandbox.key``)."""

    def call(key: object, *args: object) -> object:
        sandbox.key(key)
        return bound(key, *args)

    return call


_PLAIN_TEXT = ("startswith", "endswith", "find", "rfind", "index", "rindex", "count",
               "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper")
_POST_TEXT = ("upper", "lower", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
              "title", "capitalize", "swapcase", "partition", "rpartition", "removeprefix", "removesuffix")
_WIDTH = ("center", "ljust", "rjust", "zfill")

_STR_ATTRIBUTES: dict[str, Guard] = {
    **{name: None for name in _PLAIN_TEXT},
    **{name: _post for name in _POST_TEXT},
    **{name: _width for name in _WIDTH},
    "isdecimal": None, "isnumeric": None, "casefold": _post,
    "replace": _replace, "join": _join, "encode": _encode,
}
_BYTES_ATTRIBUTES: dict[str, Guard] = {
    **{name: None for name in _PLAIN_TEXT},
    **{name: _post for name in _POST_TEXT if name != "casefold"},
    **{name: _width for name in _WIDTH},
    "replace": _replace, "join": _join, "decode": _decode, "hex": _post,
}
_LIST_ATTRIBUTES: dict[str, Guard] = {
    "append": _grow_one, "insert": _insert, "extend": _extend, "pop": _pop, "remove": _scan,
    "index": _scan, "count": _scan, "reverse": None, "sort": _sort, "copy": _post, "clear": None,
}
_TUPLE_ATTRIBUTES: dict[str, Guard] = {"index": _scan, "count": _scan}
_DICT_ATTRIBUTES: dict[str, Guard] = {
    "get": _keyed, "keys": None, "values": None, "items": None, "pop": _keyed, "popitem": None,
    "setdefault": _setdefault, "update": _update, "copy": _post, "clear": None,
}
_INT_ATTRIBUTES: dict[str, Guard] = {"bit_length": None, "to_bytes": _to_bytes}

_TYPE_ATTRIBUTES: dict[type, dict[str, Guard]] = {
    str: _STR_ATTRIBUTES,
    bytes: _BYTES_ATTRIBUTES,
    list: _LIST_ATTRIBUTES,
    tuple: _TUPLE_ATTRIBUTES,
    dict: _DICT_ATTRIBUTES,
    int: _INT_ATTRIBUTES,
    bool: _INT_ATTRIBUTES,
}
