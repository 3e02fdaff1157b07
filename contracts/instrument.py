"""Rewrite a validated contract's AST so that every costly step passes the meter.

The instrumented code calls helpers bound in the sandbox globals under names
starting with ``_`` (``_gas``, ``_attr``, ``_binop``, ...): the policy forbids
such names in user source, so a contract can neither call nor rebind them.

Rewrites, and why each is needed:

* every straight-line block starts with ``_gas(n)``, ``n`` = its statements and
  call expressions, counted statically (so gas is a pure function of the path
  taken); every loop body also pays per iteration;
* function bodies start with ``_enter()`` and every ``return`` becomes
  ``return _leave(value)``: a deterministic frame budget that never relies on
  the host's recursion limit (exceptions abort the whole invocation because
  contracts cannot catch them, so no ``finally`` is needed);
* attribute loads become ``_attr(obj, 'name')``: per-type allow-lists at run
  time, behind the static underscore rule;
* binary operators, augmented assignments, slices, f-strings, item stores and
  comprehensions go through guards that check the size of the result *before*
  it is built (``'x' * 10**9``, ``10**10**10``, ``1 << 10**9``);
* comparisons go through ``_cmp`` (or, in a chain, each operand through
  ``_cmpcost``): comparing nested containers costs gas by the number of values
  compared, so aliasing (``[inner] * n``) cannot buy quadratic work for one gas;
* dict keys built by literals and comprehensions pass ``_key``: scalars only, so
  hashing a key is never a hidden deep walk;
* the ``from jadechain import ...`` line disappears (the runtime pre-binds the
  API), and annotations are dropped (they were read at validation).
"""

from __future__ import annotations

import ast
from typing import Any, cast

from contracts.limits import DEFAULT_GAS, GasSchedule

GAS = "_gas"
ENTER = "_enter"
LEAVE = "_leave"
ATTR = "_attr"
BINOP = "_binop"
AUG = "_aug"
AUG_ITEM = "_augitem"
SET_ITEM = "_setitem"
SLICE = "_slice"
MAKE_SLICE = "_mkslice"
CONCAT = "_concat"
FORMAT = "_fmt"
ITERATE = "_iter"
COMPARE = "_cmp"
COMPARE_COST = "_cmpcost"
KEY = "_key"
DELETE_ITEM = "_delitem"

HELPER_NAMES = (
    GAS, ENTER, LEAVE, ATTR, BINOP, AUG, AUG_ITEM, SET_ITEM, SLICE, MAKE_SLICE, CONCAT, FORMAT, ITERATE,
    COMPARE, COMPARE_COST, KEY, DELETE_ITEM,
)

COMPARE_SYMBOLS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}

OPERATOR_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitXor: "^", ast.BitAnd: "&",
}


def _helper(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _constant(value: Any) -> ast.Constant:
    return ast.Constant(value=value)


def _count_calls(nodes: list[ast.AST]) -> int:
    return sum(1 for node in nodes for inner in ast.walk(node) if isinstance(inner, ast.Call))


class Instrumenter(ast.NodeTransformer):
    """One pass over a validated module; see the module docstring for the rewrites."""

    def __init__(self, gas: GasSchedule = DEFAULT_GAS) -> None:
        self.gas = gas

    # --- blocks and gas ------------------------------------------------------

    def _own_expressions(self, statement: ast.stmt) -> list[ast.AST]:
        if isinstance(statement, (ast.If, ast.While)):
            return [statement.test]
        if isinstance(statement, ast.For):
            return [statement.iter]
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            return list(statement.decorator_list)
        return [statement]

    def _statement_cost(self, statement: ast.stmt) -> int:
        return self.gas.statement + self.gas.call * _count_calls(self._own_expressions(statement))

    def process_body(self, body: list[ast.stmt], prefix_cost: int = 0) -> list[ast.stmt]:
        """Instrument a statement list: one ``_gas(n)`` at the head of each straight-line run."""
        out: list[ast.stmt] = []
        pending = prefix_cost
        segment: list[ast.stmt] = []

        def flush() -> None:
            nonlocal pending, segment
            if pending or segment:
                out.append(ast.Expr(value=_helper(GAS, _constant(pending))))
                out.extend(segment)
            pending = 0
            segment = []

        for statement in body:
            if isinstance(statement, ast.ImportFrom):
                continue
            pending += self._statement_cost(statement)
            result = self.visit(statement)
            if isinstance(result, list):
                segment.extend(cast(list[ast.stmt], result))
            elif result is not None:
                segment.append(cast(ast.stmt, result))
            if isinstance(statement, (ast.If, ast.For, ast.While)):
                flush()
        flush()
        if not out:
            out.append(ast.Pass())
        return out

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node.body = self.process_body(node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.decorator_list = [cast(ast.expr, self.visit(d)) for d in node.decorator_list]
        node.body = self.process_body(node.body)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        for argument in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            argument.annotation = None
        node.returns = None
        node.decorator_list = [cast(ast.expr, self.visit(d)) for d in node.decorator_list]
        body = [s for s in node.body]
        instrumented = self.process_body(body)
        enter = ast.Expr(value=_helper(ENTER))
        tail = ast.Return(value=_helper(LEAVE, _constant(None)))
        node.body = [enter, *instrumented, tail]
        return node

    def visit_For(self, node: ast.For) -> ast.For:
        node.iter = cast(ast.expr, self.visit(node.iter))
        node.body = self.process_body(node.body, prefix_cost=self.gas.loop_iteration)
        node.orelse = self.process_body(node.orelse) if node.orelse else []
        return node

    def visit_While(self, node: ast.While) -> ast.While:
        per_iteration = self.gas.loop_iteration + self._statement_cost(node)
        node.test = cast(ast.expr, self.visit(node.test))
        node.body = self.process_body(node.body, prefix_cost=per_iteration)
        node.orelse = self.process_body(node.orelse) if node.orelse else []
        return node

    def visit_If(self, node: ast.If) -> ast.If:
        node.test = cast(ast.expr, self.visit(node.test))
        node.body = self.process_body(node.body)
        node.orelse = self.process_body(node.orelse) if node.orelse else []
        return node

    def visit_Return(self, node: ast.Return) -> ast.Return:
        value = cast(ast.expr, self.visit(node.value)) if node.value is not None else _constant(None)
        return ast.copy_location(ast.Return(value=_helper(LEAVE, value)), node)

    # --- stores ----------------------------------------------------------------

    def _key(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Slice):
            parts = [node.lower, node.upper, node.step]
            return _helper(MAKE_SLICE, *[cast(ast.expr, self.visit(p)) if p is not None else _constant(None) for p in parts])
        return cast(ast.expr, self.visit(node))

    def visit_Assign(self, node: ast.Assign) -> ast.stmt:
        target = node.targets[0]
        value = cast(ast.expr, self.visit(node.value))
        if isinstance(target, ast.Subscript):
            call = _helper(SET_ITEM, cast(ast.expr, self.visit(target.value)), self._key(target.slice), value)
            return ast.copy_location(ast.Expr(value=call), node)
        node.value = value
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        assign = ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        return self.visit_Assign(assign)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        symbol = OPERATOR_SYMBOLS[type(node.op)]
        value = cast(ast.expr, self.visit(node.value))
        target = node.target
        if isinstance(target, ast.Subscript):
            call = _helper(AUG_ITEM, cast(ast.expr, self.visit(target.value)), self._key(target.slice), _constant(symbol), value)
            return ast.copy_location(ast.Expr(value=call), node)
        assert isinstance(target, ast.Name)
        load = ast.Name(id=target.id, ctx=ast.Load())
        store = ast.Name(id=target.id, ctx=ast.Store())
        return ast.copy_location(ast.Assign(targets=[store], value=_helper(AUG, _constant(symbol), load, value)), node)

    def visit_Delete(self, node: ast.Delete) -> list[ast.stmt]:
        """``del x[k]`` shifts a list's tail: it goes through ``_delitem`` to pay for it."""
        out: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                call = _helper(DELETE_ITEM, cast(ast.expr, self.visit(target.value)), self._key(target.slice))
                out.append(ast.copy_location(ast.Expr(value=call), node))
            else:
                out.append(ast.copy_location(ast.Delete(targets=[target]), node))
        return out

    # --- expressions -------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        value = cast(ast.expr, self.visit(node.value))
        return ast.copy_location(_helper(ATTR, value, _constant(node.attr)), node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        left = cast(ast.expr, self.visit(node.left))
        right = cast(ast.expr, self.visit(node.right))
        symbol = OPERATOR_SYMBOLS[type(node.op)]
        return ast.copy_location(_helper(BINOP, _constant(symbol), left, right), node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Slice):
            s = node.slice
            parts = [cast(ast.expr, self.visit(p)) if p is not None else _constant(None) for p in (s.lower, s.upper, s.step)]
            return ast.copy_location(_helper(SLICE, cast(ast.expr, self.visit(node.value)), *parts), node)
        node.value = cast(ast.expr, self.visit(node.value))
        node.slice = cast(ast.expr, self.visit(node.slice))
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        parts: list[ast.expr] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(_helper(FORMAT, cast(ast.expr, self.visit(value.value))))
            else:
                parts.append(cast(ast.expr, self.visit(value)))
        return ast.copy_location(_helper(CONCAT, *parts), node)

    def _comprehension(self, node: ast.ListComp | ast.DictComp, heads: list[ast.AST]) -> None:
        per_item = self.gas.loop_iteration + self.gas.call * _count_calls(
            heads + [cond for generator in node.generators for cond in generator.ifs]
        )
        for generator in node.generators:
            generator.iter = _helper(ITERATE, cast(ast.expr, self.visit(generator.iter)), _constant(per_item))
            generator.ifs = [cast(ast.expr, self.visit(cond)) for cond in generator.ifs]

    def visit_ListComp(self, node: ast.ListComp) -> ast.expr:
        self._comprehension(node, [node.elt])
        node.elt = cast(ast.expr, self.visit(node.elt))
        return node

    def visit_DictComp(self, node: ast.DictComp) -> ast.expr:
        self._comprehension(node, [node.key, node.value])
        node.key = _helper(KEY, cast(ast.expr, self.visit(node.key)))
        node.value = cast(ast.expr, self.visit(node.value))
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        keys: list[ast.expr | None] = []
        for key in node.keys:
            if key is None or isinstance(key, ast.Constant):
                keys.append(key)
            else:
                keys.append(_helper(KEY, cast(ast.expr, self.visit(key))))
        node.keys = keys
        node.values = [cast(ast.expr, self.visit(value)) for value in node.values]
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        left = cast(ast.expr, self.visit(node.left))
        comparators = [cast(ast.expr, self.visit(c)) for c in node.comparators]
        if len(node.ops) == 1:
            op = node.ops[0]
            if isinstance(op, (ast.Is, ast.IsNot)):
                node.left, node.comparators = left, comparators
                return node
            call = _helper(COMPARE, _constant(COMPARE_SYMBOLS[type(op)]), left, comparators[0])
            return ast.copy_location(call, node)

        def costed(operand: ast.expr) -> ast.expr:
            return operand if isinstance(operand, ast.Constant) else _helper(COMPARE_COST, operand)

        node.left = costed(left)
        node.comparators = [costed(c) for c in comparators]
        return node


def instrument(tree: ast.Module, gas: GasSchedule = DEFAULT_GAS) -> ast.Module:
    """Return the instrumented module (the input tree is rewritten in place)."""
    result = Instrumenter(gas).visit(tree)
    assert isinstance(result, ast.Module)
    return ast.fix_missing_locations(result)
