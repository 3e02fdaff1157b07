"""Every deploy-time policy rule rejects with its rule id and the offending position."""

from __future__ import annotations

import pytest

from contracts import SandboxRuntime, validate_source
from ledger.errors import ContractRejected

HEADER = "from jadechain import contract, callable\n\n@contract\nclass T:\n    @callable\n    def run(self) -> int:\n"
BODY_LINE = 7  # first line of the method body
BODY_COLUMN = 9  # 1-based column of the body's indentation


def method_body(body: str) -> str:
    return HEADER + "".join("        " + line + "\n" for line in body.split("\n"))


def rejection(source: str) -> ContractRejected:
    with pytest.raises(ContractRejected) as caught:
        validate_source(source)
    return caught.value


# (body, rule, line offset within the body, 1-based column)
BODY_CASES = [
    ("import os", "forbidden-import", 0, 9),
    ("from os import path", "forbidden-import", 0, 9),
    ("x = self.__class__", "no-underscore-attribute", 0, 13),
    ("x = _secret", "no-underscore-name", 0, 13),
    ("x = __builtins__", "no-underscore-name", 0, 13),
    ("x = exec", "forbidden-builtin", 0, 13),
    ("x = eval('1')", "forbidden-builtin", 0, 13),
    ("x = compile('1', 'f', 'exec')", "forbidden-builtin", 0, 13),
    ("x = open('/etc/passwd')", "forbidden-builtin", 0, 13),
    ("x = getattr(self, 'ctx')", "forbidden-builtin", 0, 13),
    ("setattr(self, 'a', 1)", "forbidden-builtin", 0, 9),
    ("x = type(self)", "forbidden-builtin", 0, 13),
    ("x = vars()", "forbidden-builtin", 0, 13),
    ("x = globals()", "forbidden-builtin", 0, 13),
    ("x = locals()", "forbidden-builtin", 0, 13),
    ("x = super()", "forbidden-builtin", 0, 13),
    ("print(1)", "forbidden-builtin", 0, 9),
    ("breakpoint()", "forbidden-builtin", 0, 9),
    ("x = input()", "forbidden-builtin", 0, 13),
    ("x = object", "forbidden-builtin", 0, 13),
    ("x = ｅｘｅｃ", "forbidden-builtin", 0, 13),
    ("x = self._＿class＿_", "no-underscore-attribute", 0, 13),
    ("try:\n    pass\nexcept Exception:\n    pass", "no-try", 0, 9),
    ("with x:\n    pass", "no-with", 0, 9),
    ("raise ValueError", "no-raise", 0, 9),
    ("global g", "no-global", 0, 9),
    ("x = lambda: 1", "no-lambda", 0, 13),
    ("x = (i for i in range(3))", "no-generator", 0, 13),
    ("yield 1", "no-generator", 0, 9),
    ("x = 1.5", "no-float", 0, 13),
    ("x = 2j", "no-float", 0, 13),
    ("x = 3 / 2", "no-true-division", 0, 13),
    ("x = {1, 2}", "no-set", 0, 13),
    ("x = {i for i in range(2)}", "no-set", 0, 13),
    ("x = f'{self!r}'", "fstring-conversion", 0, 13),
    ("x = f'{1:>10}'", "fstring-format-spec", 0, 13),
    ("x = 'a'.format(1)", "forbidden-attribute", 0, 13),
    ("x = 'a'.format_map({})", "forbidden-attribute", 0, 13),
    ("x = y.gi_frame", "forbidden-attribute", 0, 13),
    ("x = [*y]", "no-star-args", 0, 14),
    ("x = len(**y)", "no-star-args", 0, 17),
    ("self.x = 1", "no-attribute-assign", 0, 9),
    ("a = b = 1", "complex-assignment", 0, 9),
    ("if (n := 1):\n    pass", "no-walrus", 0, 13),
    ("match x:\n    case 1:\n        pass", "no-match", 0, 9),
    ("def inner():\n    pass", "no-nested-function", 0, 9),
    ("x = 1\nx = -" + "-" * 120 + "1", "nesting-too-deep", 1, 14),
]


@pytest.mark.parametrize(("body", "rule", "line_offset", "column"), BODY_CASES, ids=[c[1] + ":" + c[0][:20] for c in BODY_CASES])
def test_body_rule_rejected_with_position(body: str, rule: str, line_offset: int, column: int) -> None:
    error = rejection(method_body(body))
    assert error.details["rule"] == rule
    assert error.details["line"] == BODY_LINE + line_offset
    if rule != "nesting-too-deep":
        assert error.details["column"] == column
    assert f"[{rule}]" in error.message


STRUCTURE_CASES = [
    ("import os\n" + HEADER + "        return 1\n", "forbidden-import", 1),
    ("from jadechain import contract as c\n", "forbidden-import", 1),
    ("from jadechain import *\n", "forbidden-import", 1),
    ("for i in range(3):\n    pass\n", "module-level-statement", 1),
    (HEADER + "        return 1\n@contract\nclass U:\n    pass\n", "one-contract-class", 9),
    ("from jadechain import contract\nclass T(dict):\n    pass\n", "no-class-bases", 2),
    ("from jadechain import contract\n@contract\nclass T(metaclass=M):\n    pass\n", "no-class-bases", 3),
    ("from jadechain import callable\nclass T:\n    @callable\n    def run(self) -> int:\n        return 1\n", "decorator", 2),
    ("from jadechain import contract\n@contract\nclass T:\n    @cache\n    def run(self) -> int:\n        return 1\n", "decorator", 4),
    ("from jadechain import contract\n@contract\nclass T:\n    def run(self) -> int:\n        return 1\n", "no-callable", 3),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    @callable\n    def run(self, x) -> int:\n        return 1\n", "untyped-parameter", 5),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    @callable\n    def run(self, x: Thing) -> int:\n        return 1\n", "untyped-parameter", 5),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    @callable\n    def ctx(self) -> int:\n        return 1\n", "reserved-name", 5),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    @callable\n    def run(self, *args) -> int:\n        return 1\n", "no-star-args", 5),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    def run(self, x=[]) -> int:\n        return 1\n", "non-constant-default", 4),
    ("from jadechain import contract, callable\nEVENTS = [1]\n", "bad-events-declaration", 2),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    x = 1\n", "class-body", 4),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    async def run(self) -> int:\n        return 1\n", "no-async", 4),
    ("from jadechain import contract, callable\n@contract\nclass T:\n    @callable\n    def run(self) -> int:\n        return 1\n    @callable\n    def run(self) -> int:\n        return 2\n", "duplicate-method", 8),
    ("def f(:\n", "syntax-error", 1),
]


@pytest.mark.parametrize(("source", "rule", "line"), STRUCTURE_CASES, ids=[c[1] for c in STRUCTURE_CASES])
def test_structure_rule_rejected(source: str, rule: str, line: int) -> None:
    error = rejection(source)
    assert error.details["rule"] == rule
    assert error.details["line"] == line


def test_raw_limits_checked_before_the_parser() -> None:
    assert rejection("x = 1\n" * 20000).details["rule"] == "source-too-large"
    deep = "x = " + "(" * 100 + "1" + ")" * 100
    error = rejection(deep)
    assert error.details["rule"] == "nesting-too-deep" and error.details["line"] == 1
    assert rejection("x = '\x00'").details["rule"] == "source-nul"
    tabbed = rejection("from jadechain import contract\nif 1:\n\tx = 1\n")
    assert tabbed.details["rule"] == "source-tabs" and tabbed.details["line"] == 3


def test_parser_crashes_become_rejections() -> None:
    assert rejection("x = " + "-" * 60000 + "1").details["rule"] in ("parser-limit", "nesting-too-deep")
    assert rejection("x = " + "+".join(["a"] * 20000)).details["rule"] in ("parser-limit", "nesting-too-deep")


def test_valid_contract_passes_and_spec_is_read() -> None:
    source = (
        "from jadechain import contract, callable, event\n"
        "EVENTS = ['created']\n"
        "@contract\nclass Shop:\n"
        "    '''docstring'''\n"
        "    @event\n    def sold(self, item: str, price: int): ...\n"
        "    @callable\n    def buy(self, item: str, qty: int, tags: list[str], meta: dict) -> int:\n"
        "        return self.helper(qty)\n"
        "    def helper(self, n):\n        return n * 2\n"
    )
    validated = validate_source(source)
    spec = validated.spec
    assert spec.class_name == "Shop"
    assert spec.callables["buy"].parameters == (("item", "str"), ("qty", "int"), ("tags", "list"), ("meta", "dict"))
    assert spec.declared_topics == ("created", "sold")
    assert spec.events["sold"].fields == ("item", "price")
    assert spec.members == frozenset({"sold", "buy", "helper"})
    SandboxRuntime().validate(source)
