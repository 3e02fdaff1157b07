"""The deploy-time policy: which Python a contract may be written in.

The policy is an allow-list over the AST (anything not listed is rejected), plus
raw-source limits checked *before* ``ast.parse`` so that source built to crash
the CPython parser or compiler (deep nesting, huge files) is rejected cheaply
and with a clear rule. Every violation raises ``ContractRejected`` whose
``details`` carry ``line``, ``column`` (1-based, as editors show them) and a
stable ``rule`` id, so a developer can fix the source without guessing.

What the policy removes, and why:

* imports other than ``from jadechain import contract, callable, event``: the
  host's modules are the host's power;
* every name and attribute starting with ``_``: all of Python's introspection
  (``__class__``, ``__globals__``, ``__subclasses__``, ``__builtins__``) hides
  behind underscores;
* builtins outside a small allow-list (``exec``, ``eval``, ``getattr``, ``type``,
  ``open``, ``vars``, ...) and attributes that evaluate attribute paths
  (``str.format``) or expose frames (``gi_frame``, ``f_back``, ``tb_frame``);
* ``try``/``with``/``raise``: a contract cannot catch the engine's ``OutOfGas``
  or limit errors, so a failure always aborts the invocation;
* ``yield``/``async``/generator expressions/``lambda``/nested functions:
  generator and coroutine frames are classic escape hatches, and closures
  complicate the frame accounting;
* floats, true division, sets: non-deterministic or platform-dependent results
  (set iteration order depends on the per-process hash seed);
* ``global``/``nonlocal``, attribute assignment, ``match``: ways to reach or
  mutate state outside the method's own frame.

The AST module has already applied NFKC normalisation to identifiers, so
look-alike spellings such as ``ｅｘｅｃ`` are caught as ``exec``.
"""

from __future__ import annotations

import ast
import builtins
import warnings
from dataclasses import dataclass

from contracts.limits import DEFAULT_LIMITS, SandboxLimits
from contracts.spec import PARSE_LOCK
from ledger.errors import ContractRejected

API_MODULE = "jadechain"
API_NAMES = frozenset({"contract", "callable", "event"})

ALLOWED_BUILTINS = frozenset(
    {
        "len", "range", "min", "max", "sum", "abs", "sorted", "enumerate", "zip",
        "int", "str", "bool", "bytes", "list", "dict", "isinstance", "any", "all",
        "reversed", "chr", "ord", "True", "False", "None",
    }
)
"""Builtins a contract may name; the runtime provides guarded versions of exactly these."""

PARAMETER_TYPES = frozenset({"str", "int", "bool", "bytes", "list", "dict"})

DENIED_ATTRIBUTES = frozenset(
    {
        "format", "format_map", "mro", "maketrans", "translate",
        "gi_frame", "gi_code", "gi_yieldfrom", "gi_running",
        "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "ag_await",
        "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
        "tb_frame", "tb_next", "co_code", "co_consts", "func_globals", "im_func",
        "mapping",
    }
)
"""Non-underscore attributes that evaluate attribute paths or expose frames."""

DENIED_ATTRIBUTE_PREFIXES = ("gi_", "cr_", "ag_", "f_", "tb_", "co_")

RESERVED_MEMBER_NAMES = frozenset({"ctx"})

_FORBIDDEN_NODES: dict[type[ast.AST], str] = {
    ast.Import: "forbidden-import",
    ast.AsyncFunctionDef: "no-async",
    ast.AsyncFor: "no-async",
    ast.AsyncWith: "no-async",
    ast.Await: "no-async",
    ast.With: "no-with",
    ast.Raise: "no-raise",
    ast.Try: "no-try",
    ast.Global: "no-global",
    ast.Nonlocal: "no-global",
    ast.Match: "no-match",
    ast.Yield: "no-generator",
    ast.YieldFrom: "no-generator",
    ast.GeneratorExp: "no-generator",
    ast.Lambda: "no-lambda",
    ast.NamedExpr: "no-walrus",
    ast.Set: "no-set",
    ast.SetComp: "no-set",
    ast.Starred: "no-star-args",
}
if hasattr(ast, "TryStar"):
    _FORBIDDEN_NODES[getattr(ast, "TryStar")] = "no-try"

_ALLOWED_NODES: frozenset[type[ast.AST]] = frozenset(
    {
        ast.Module, ast.FunctionDef, ast.ClassDef, ast.Return, ast.Delete, ast.Assign,
        ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If, ast.Expr, ast.Pass,
        ast.Break, ast.Continue, ast.ImportFrom, ast.Assert,
        ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.List, ast.Tuple,
        ast.ListComp, ast.DictComp, ast.Compare, ast.Call, ast.JoinedStr,
        ast.FormattedValue, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice,
        ast.Name, ast.arguments, ast.arg, ast.keyword, ast.comprehension, ast.alias,
        ast.Load, ast.Store, ast.Del,
        ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow,
        ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
        ast.Invert, ast.Not, ast.UAdd, ast.USub,
        ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot,
        ast.In, ast.NotIn,
    }
)


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A ``@callable`` method: its name and declared parameter types, in order."""

    name: str
    parameters: tuple[tuple[str, str], ...]
    """(parameter name, type name) for every parameter after ``self``."""
    line: int


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An ``@event`` method: emitting it publishes its keyword arguments under its name."""

    topic: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """What the policy learned about a valid contract; the runtime trusts it."""

    class_name: str
    callables: dict[str, MethodSpec]
    events: dict[str, EventSpec]
    declared_topics: tuple[str, ...]
    """Every topic the contract may emit; empty means undeclared (any topic)."""
    members: frozenset[str]
    """Every function name defined in the contract class (callable, event, helper)."""


@dataclass(slots=True)
class ValidatedContract:
    """A parsed, policy-checked module and its spec (input to the instrumenter)."""

    tree: ast.Module
    spec: ContractSpec


def reject(message: str, rule: str, line: int = 0, column: int = 0) -> ContractRejected:
    """Build the one error type of the policy, with position and rule id in ``details``."""
    where = f" (line {line}, column {column})" if line else ""
    return ContractRejected(f"{message}{where} [{rule}]", line=line, column=column, rule=rule)


def _at(node: ast.AST, message: str, rule: str) -> ContractRejected:
    return reject(message, rule, getattr(node, "lineno", 0), getattr(node, "col_offset", -1) + 1)


def check_raw_source(source: str, limits: SandboxLimits = DEFAULT_LIMITS) -> None:
    """Limits checked on the text itself, so the parser never sees a bomb.

    The bracket count ignores string literals only roughly (it may over-count a
    bracket inside a string); erring towards rejection is the safe direction.
    """
    if not isinstance(source, str):
        raise reject("contract source must be text", "source-type")
    size = len(source.encode("utf-8", errors="surrogatepass"))
    if size > limits.max_source_bytes:
        raise reject(f"source is {size} bytes, limit is {limits.max_source_bytes}", "source-too-large")
    if "\x00" in source:
        raise reject("source contains a NUL character", "source-nul")
    lines = source.split("\n")
    if len(lines) > limits.max_source_lines:
        raise reject(f"source has {len(lines)} lines, limit is {limits.max_source_lines}", "source-too-large")
    depth = 0
    for number, text in enumerate(lines, start=1):
        stripped = text.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            if "\t" in text[: len(text) - len(stripped.lstrip("\t"))]:
                raise reject("indent with spaces, not tabs", "source-tabs", number, 1)
            indent = len(text) - len(stripped)
            if indent > 4 * limits.max_indent_depth:
                raise reject("indentation too deep", "nesting-too-deep", number, 1)
        for column, char in enumerate(text, start=1):
            if char in "([{":
                depth += 1
                if depth > limits.max_bracket_depth:
                    raise reject(
                        f"brackets nested deeper than {limits.max_bracket_depth}",
                        "nesting-too-deep", number, column,
                    )
            elif char in ")]}":
                depth = max(0, depth - 1)


def parse_source(source: str, limits: SandboxLimits = DEFAULT_LIMITS) -> ast.Module:
    """Parse after the raw checks; parser crashes become rejections, never host errors."""
    check_raw_source(source, limits)
    try:
        with PARSE_LOCK, warnings.catch_warnings():
            # the host's warning filters must not decide whether a contract parses
            warnings.simplefilter("ignore")
            return ast.parse(source, filename="<contract>", mode="exec", type_comments=False)
    except SyntaxError as exc:
        raise reject(f"syntax error: {exc.msg}", "syntax-error", exc.lineno or 0, exc.offset or 0) from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise reject(f"source too complex for the parser ({type(exc).__name__})", "parser-limit") from None


def validate_source(source: str, limits: SandboxLimits = DEFAULT_LIMITS) -> ValidatedContract:
    """Check ``source`` against the whole policy; return the tree and its spec."""
    tree = parse_source(source, limits)
    _check_nodes(tree, limits)
    spec = _check_structure(tree)
    return ValidatedContract(tree=tree, spec=spec)


def _check_nodes(tree: ast.Module, limits: SandboxLimits) -> None:
    """Walk every node iteratively (no host recursion) and apply the per-node rules."""
    stack: list[tuple[ast.AST, int, ast.AST]] = [(tree, 0, tree)]
    count = 0
    python_builtins = frozenset(dir(builtins))
    while stack:
        node, depth, anchor = stack.pop()
        if hasattr(node, "lineno"):
            anchor = node
        count += 1
        if count > limits.max_ast_nodes:
            raise _at(node, "contract has too many syntax nodes", "too-complex")
        if depth > limits.max_ast_depth:
            raise _at(anchor, f"expression nested deeper than {limits.max_ast_depth}", "nesting-too-deep")
        kind = type(node)
        forbidden = _FORBIDDEN_NODES.get(kind)
        if forbidden is not None:
            raise _at(node, f"'{kind.__name__}' is not allowed in contracts", forbidden)
        if kind not in _ALLOWED_NODES:
            rule = "no-true-division" if kind is ast.Div else "forbidden-syntax"
            raise _at(node, f"'{kind.__name__}' is not allowed in contracts", rule)
        _check_node(node, python_builtins)
        children = list(ast.iter_child_nodes(node))
        for child in children:
            if isinstance(child, (ast.Div, ast.MatMult)):
                rule = "no-true-division" if isinstance(child, ast.Div) else "forbidden-syntax"
                raise _at(node, "use // for integer division; '/' and '@' are not allowed", rule)
        # reversed, so that the walk is pre-order in source order: the first violation reported
        # is the outermost, left-most one, as a developer reads the code
        stack.extend((child, depth + 1, anchor) for child in reversed(children))


def _check_node(node: ast.AST, python_builtins: frozenset[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _at(node, f"name '{node.id}' starts with '_'", "no-underscore-name")
        if node.id in python_builtins and node.id not in ALLOWED_BUILTINS and node.id not in API_NAMES:
            raise _at(node, f"builtin '{node.id}' is not available to contracts", "forbidden-builtin")
    elif isinstance(node, ast.Attribute):
        _check_attribute_name(node, node.attr)
        if not isinstance(node.ctx, ast.Load):
            raise _at(node, "contracts cannot assign or delete attributes", "no-attribute-assign")
    elif isinstance(node, ast.arg):
        _check_binding_name(node, node.arg)
        if node.arg in python_builtins and node.arg not in ALLOWED_BUILTINS:
            raise _at(node, f"parameter shadows builtin '{node.arg}'", "forbidden-builtin")
    elif isinstance(node, ast.keyword):
        if node.arg is None:
            raise _at(node, "'**' arguments are not allowed", "no-star-args")
        _check_binding_name(node, node.arg)
    elif isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _at(node, "'**' unpacking is not allowed", "no-star-args")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, (float, complex)):
            raise _at(node, "float and complex literals are not allowed", "no-float")
    elif isinstance(node, ast.FormattedValue):
        if node.conversion not in (-1, ord("s")):
            raise _at(node, "f-string conversions other than !s are not allowed", "fstring-conversion")
        if node.format_spec is not None:
            raise _at(node, "f-string format specs are not allowed", "fstring-format-spec")
    elif isinstance(node, ast.comprehension):
        if node.is_async:
            raise _at(node.target, "async comprehensions are not allowed", "no-async")
        _check_target(node.target, allow_subscript=False)
    elif isinstance(node, ast.Assign):
        if len(node.targets) != 1:
            raise _at(node, "chained assignment is not allowed", "complex-assignment")
        _check_target(node.targets[0], allow_subscript=True)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        if not isinstance(node.target, (ast.Name, ast.Subscript)):
            raise _at(node, "assign to a name or an item", "complex-assignment")
        if isinstance(node, ast.AnnAssign) and not node.simple:
            raise _at(node, "annotated assignment to a non-name", "complex-assignment")
    elif isinstance(node, ast.For):
        _check_target(node.target, allow_subscript=False)
    elif isinstance(node, ast.Delete):
        for target in node.targets:
            if not isinstance(target, (ast.Name, ast.Subscript)):
                raise _at(target, "delete a name or an item", "complex-assignment")
    elif isinstance(node, ast.ImportFrom):
        names = [alias.name for alias in node.names]
        if node.module != API_MODULE or node.level != 0 or not set(names) <= API_NAMES:
            raise _at(node, f"only 'from {API_MODULE} import contract, callable, event' is allowed", "forbidden-import")
        if any(alias.asname is not None for alias in node.names):
            raise _at(node, "import aliases are not allowed", "forbidden-import")


def _check_attribute_name(node: ast.AST, name: str) -> None:
    if name.startswith("_"):
        raise _at(node, f"attribute '{name}' starts with '_'", "no-underscore-attribute")
    if name in DENIED_ATTRIBUTES or name.startswith(DENIED_ATTRIBUTE_PREFIXES):
        raise _at(node, f"attribute '{name}' is not available to contracts", "forbidden-attribute")


def _check_binding_name(node: ast.AST, name: str) -> None:
    if name.startswith("_"):
        raise _at(node, f"name '{name}' starts with '_'", "no-underscore-name")


def _check_target(target: ast.expr, allow_subscript: bool) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, ast.Subscript) and allow_subscript:
        return
    if isinstance(target, ast.Attribute):
        raise _at(target, "contracts cannot assign or delete attributes", "no-attribute-assign")
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            if not isinstance(element, (ast.Name, ast.Tuple, ast.List, ast.Attribute)):
                raise _at(element, "unpack into names only", "complex-assignment")
            _check_target(element, allow_subscript=False)
        return
    raise _at(target, "assign to a name, a tuple of names or one item", "complex-assignment")


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _decorator_name(node: ast.FunctionDef | ast.ClassDef) -> str | None:
    if not node.decorator_list:
        return None
    if len(node.decorator_list) > 1:
        raise _at(node, "at most one decorator", "decorator")
    decorator = node.decorator_list[0]
    if not isinstance(decorator, ast.Name) or decorator.id not in API_NAMES:
        raise _at(decorator, "only @contract, @callable and @event decorators are allowed", "decorator")
    return decorator.id


def _check_function(node: ast.FunctionDef, in_class: bool) -> None:
    args = node.args
    if args.vararg is not None or args.kwarg is not None:
        raise _at(node, "*args and **kwargs are not allowed", "no-star-args")
    for default in [*args.defaults, *args.kw_defaults]:
        if default is not None and not isinstance(default, ast.Constant):
            raise _at(default, "parameter defaults must be literal constants", "non-constant-default")
    for statement in ast.walk(node):
        if statement is not node and isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            raise _at(statement, "functions and classes cannot be nested", "no-nested-function")
    if in_class and not args.args and not args.posonlyargs:
        raise _at(node, "methods take 'self' first", "method-signature")


def _annotation_type(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id if node.id in PARAMETER_TYPES else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ("list", "dict"):
        return node.value.id
    return None


def _events_declaration(node: ast.Assign | ast.AnnAssign) -> tuple[str, ...] | None:
    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
    if not (isinstance(target, ast.Name) and target.id == "EVENTS"):
        return None
    value = node.value
    if not isinstance(value, (ast.List, ast.Tuple)) or not all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
    ):
        raise _at(node, "EVENTS must be a list of topic strings", "bad-events-declaration")
    return tuple(e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))


def _check_structure(tree: ast.Module) -> ContractSpec:
    """Module shape: the API import, module constants and helpers, exactly one contract class."""
    contract_class: ast.ClassDef | None = None
    topics: list[str] = []
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) or _is_docstring(statement) or isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            declared = _events_declaration(statement)
            if declared is not None:
                topics.extend(declared)
            continue
        if isinstance(statement, ast.FunctionDef):
            if statement.decorator_list:
                raise _at(statement, "module-level functions take no decorators", "decorator")
            _check_function(statement, in_class=False)
            continue
        if isinstance(statement, ast.ClassDef):
            if contract_class is not None:
                raise _at(statement, "a contract module defines exactly one class", "one-contract-class")
            contract_class = statement
            continue
        raise _at(statement, "only imports, constants, functions and the contract class at module level", "module-level-statement")
    if contract_class is None:
        raise reject("no @contract class found", "one-contract-class", 1, 1)
    cls = contract_class
    if cls.bases or cls.keywords:
        raise _at(cls, "the contract class takes no bases, metaclass or keywords", "no-class-bases")
    if _decorator_name(cls) != "contract":
        raise _at(cls, "the contract class must be decorated with @contract", "decorator")
    callables: dict[str, MethodSpec] = {}
    events: dict[str, EventSpec] = {}
    members: set[str] = set()
    for statement in cls.body:
        if _is_docstring(statement) or isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            declared = _events_declaration(statement)
            if declared is None:
                raise _at(statement, "class bodies hold methods and an EVENTS declaration only", "class-body")
            topics.extend(declared)
            continue
        if not isinstance(statement, ast.FunctionDef):
            raise _at(statement, "class bodies hold methods only", "class-body")
        _check_function(statement, in_class=True)
        name = statement.name
        if name in RESERVED_MEMBER_NAMES:
            raise _at(statement, f"'{name}' is reserved for the context", "reserved-name")
        if name in members:
            raise _at(statement, f"method '{name}' defined twice", "duplicate-method")
        members.add(name)
        decorator = _decorator_name(statement)
        params = [*statement.args.posonlyargs, *statement.args.args][1:]
        if decorator == "contract":
            raise _at(statement, "@contract decorates the class, not methods", "decorator")
        if decorator == "callable":
            typed: list[tuple[str, str]] = []
            for param in [*params, *statement.args.kwonlyargs]:
                type_name = _annotation_type(param.annotation)
                if type_name is None:
                    raise _at(param, f"parameter '{param.arg}' needs a type: one of {sorted(PARAMETER_TYPES)}", "untyped-parameter")
                typed.append((param.arg, type_name))
            if statement.args.kwonlyargs or statement.args.defaults:
                raise _at(statement, "callable methods take positional parameters without defaults", "method-signature")
            callables[name] = MethodSpec(name, tuple(typed), statement.lineno)
        elif decorator == "event":
            events[name] = EventSpec(name, tuple(p.arg for p in [*params, *statement.args.kwonlyargs]))
            topics.append(name)
    if not callables:
        raise _at(cls, "the contract has no @callable method", "no-callable")
    return ContractSpec(
        class_name=cls.name,
        callables=callables,
        events=events,
        declared_topics=tuple(dict.fromkeys(topics)),
        members=frozenset(members),
    )
