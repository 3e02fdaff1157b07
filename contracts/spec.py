"""The host-side shape of a contract: its class, ``@callable`` signatures, ``@event`` fields.

The host reads only the *declarations* of a contract with CPython's ``ast`` (after
size and nesting pre-checks done on the raw text, so that a hostile source cannot
exhaust the parser); it never runs any of it. Everything the code does happens in
the WebAssembly guest. The spec lets the host check arguments before a VM starts
and tells the guest the field names of each event (MicroPython cannot introspect
parameter names).
"""

from __future__ import annotations

import ast
import threading
import warnings
from dataclasses import dataclass, field

from ledger.errors import ContractRejected

PARAMETER_TYPES = ("str", "int", "bool", "bytes", "list", "dict")
MAX_SOURCE_BYTES = 64 * 1024
MAX_SOURCE_LINES = 4000
MAX_BRACKET_DEPTH = 40
MAX_INDENT_DEPTH = 24
MAX_AST_NODES = 50_000
RESERVED_PREFIX = "_jc"
PARSE_LOCK = threading.Lock()
"""CPython 3.11's AST constructor keeps its recursion depth in shared state: two threads parsing at
once can fail with a spurious SystemError (one node rejecting what another accepts). One at a time."""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    parameters: tuple[tuple[str, str], ...]
    reentrant: bool = False


@dataclass(frozen=True, slots=True)
class ContractSpec:
    class_name: str
    callables: dict[str, MethodSpec] = field(default_factory=dict)
    events: dict[str, tuple[str, ...]] = field(default_factory=dict)
    declared_topics: frozenset[str] = frozenset()


def reject(message: str, rule: str, line: int = 0) -> ContractRejected:
    return ContractRejected(message, rule=rule, line=line)


def _precheck(source: str) -> None:
    if not isinstance(source, str):
        raise reject("contract source must be text", "source-type")
    if len(source.encode("utf-8", errors="surrogatepass")) > MAX_SOURCE_BYTES:
        raise reject(f"contract source over {MAX_SOURCE_BYTES} bytes", "source-size")
    if "\x00" in source:
        raise reject("contract source holds a NUL character", "source-nul")
    lines = source.split("\n")
    if len(lines) > MAX_SOURCE_LINES:
        raise reject(f"contract source over {MAX_SOURCE_LINES} lines", "source-lines")
    depth = 0
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip(" ")
        if stripped and (len(line) - len(stripped)) // 4 > MAX_INDENT_DEPTH:
            raise reject("indentation nested too deeply", "indent-depth", number)
        for char in line:
            if char in "([{":
                depth += 1
                if depth > MAX_BRACKET_DEPTH:
                    raise reject("brackets nested too deeply", "bracket-depth", number)
            elif char in ")]}":
                depth = max(0, depth - 1)


def _decorator_names(node: ast.FunctionDef | ast.ClassDef) -> list[str]:
    names = []
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Name):
            names.append(decorator.id)
        elif isinstance(decorator, ast.Attribute):
            names.append(decorator.attr)
        else:
            names.append("")
    return names


def _annotation(node: ast.expr | None) -> str:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name) and node.id in PARAMETER_TYPES:
        return node.id
    return ""


def extract_spec(source: str) -> ContractSpec:
    """The spec of ``source``, or ``ContractRejected`` (with rule and line) if it has none."""
    _precheck(source)
    try:
        with PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the host's warning filters (-W error) must not decide
            tree = ast.parse(source, "<contract>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", 0) or 0
        raise reject(f"contract source does not parse ({type(exc).__name__})", "syntax", int(line)) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_AST_NODES:
        raise reject("contract source too large", "ast-nodes")
    classes = [
        node for node in tree.body if isinstance(node, ast.ClassDef) and "contract" in _decorator_names(node)
    ]
    if len(classes) != 1:
        raise reject("a contract defines exactly one @contract class at top level", "contract-class")
    cls = classes[0]
    declared: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EVENTS" for t in node.targets):
            if not isinstance(node.value, (ast.List, ast.Tuple)) or not all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts
            ):
                raise reject("EVENTS must be a list of str literals", "events", node.lineno)
            declared.update(str(e.value) for e in node.value.elts if isinstance(e, ast.Constant))
    callables: dict[str, MethodSpec] = {}
    events: dict[str, tuple[str, ...]] = {}
    for item in cls.body:
        if not isinstance(item, ast.FunctionDef):
            continue
        decorators = _decorator_names(item)
        arguments = item.args
        names = [a.arg for a in arguments.args]
        if "callable" in decorators or "reentrant" in decorators:
            if item.name.startswith("_"):
                raise reject("a @callable name cannot start with '_'", "callable-name", item.lineno)
            if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.defaults or arguments.posonlyargs:
                raise reject("@callable takes plain positional parameters", "callable-signature", item.lineno)
            if not names or names[0] != "self":
                raise reject("@callable must be a method (first parameter self)", "callable-signature", item.lineno)
            parameters = []
            for a in arguments.args[1:]:
                kind = _annotation(a.annotation)
                if not kind:
                    raise reject(
                        f"parameter '{a.arg}' of '{item.name}' must be annotated with one of {', '.join(PARAMETER_TYPES)}",
                        "callable-annotation", item.lineno,
                    )
                parameters.append((a.arg, kind))
            callables[item.name] = MethodSpec(item.name, tuple(parameters), "reentrant" in decorators)
        elif "event" in decorators:
            if not names or names[0] != "self" or arguments.vararg or arguments.kwarg:
                raise reject("@event is a method with named fields", "event-signature", item.lineno)
            if item.name.startswith("_"):
                raise reject("an @event name cannot start with '_'", "event-name", item.lineno)
            events[item.name] = tuple(names[1:])
    if not callables:
        raise reject("the contract class has no @callable method", "no-callable", cls.lineno)
    topics = frozenset(declared | set(events)) if declared else frozenset()
    return ContractSpec(cls.name, callables, events, topics)
