"""Syntax errors: the message, the code and the exact characters they point at."""

from __future__ import annotations

import pytest

import engine
from engine.expr import ast
from engine.expr.scope import FREQUENCY_CONSTANTS, SMTP_QUEUE_HOST_VARS, STALWART_VARIABLES
from engine.expr.syntax import MAX_DEPTH, MAX_SOURCE_LENGTH, parse
from engine.expr.scope import Scope

ALL = STALWART_VARIABLES


def error_of(source: str, variables: tuple[str, ...] = ALL,
             constants: dict[str, int] | None = None) -> engine.ParseError:
    with pytest.raises(engine.ParseError) as caught:
        engine.compile_expression(source, variables, constants)
    return caught.value


@pytest.mark.parametrize(("source", "code", "column", "length", "message"), [
    ("1 +", "E101", 4, 0, "unexpected end of expression: an operand is missing"),
    ("(1 + 2", "E101", 7, 0, "missing `)`"),
    ("1 + 2)", "E101", 6, 1, "unmatched `)`"),
    ("[1, 2", "E101", 6, 0, "missing `]`"),
    ("1 2", "E101", 3, 1, "missing operator before `2`"),
    ("1 + * 2", "E101", 5, 1, "missing operand before `*`"),
    ("'abc", "E101", 1, 4, "unterminated string: no closing '"),
    ("'a\\\\'", "E101", 1, 5, "unterminated string: no closing '"),
    ("1\t+ 1", "E101", 2, 1, "tab characters are not allowed in expressions"),
    ("7 % 2", "E101", 3, 1, "there is no `%` operator"),
    ("rcpt = 'é' + é", "E101", 14, 1, "the character `é` may only appear inside a string literal"),
    ("1 =1", "E101", 3, 1, "a single `=` must be followed by a space"),
    ("1 => 0", "E101", 3, 2, "`=>` is not an operator"),
    ("1 + 2 } * 10", "E101", 7, 1, "unexpected `}`"),
    ("9223372036854775808", "E102", 1, 19, "integer 9223372036854775808 is out of range"),
    ("1.2.3", "E102", 1, 5, "invalid number `1.2.3`"),
    ("0x10", "E102", 1, 4, "invalid duration or number `0x10`"),
    ("0s", "E102", 1, 2, "duration `0s` must be greater than zero"),
    ("2w", "E102", 1, 2, "invalid duration or number `2w`"),
    ("matches('(', rcpt)", "E103", 9, 3, "invalid regular expression: missing ): ("),
    ("rcpt_domian == 'x'", "E201", 1, 11, "unknown name `rcpt_domian`"),
    ("lenn(rcpt)", "E203", 1, 4, "unknown function `lenn`"),
    ("len()", "E204", 1, 5, "`len` takes 1 argument, got 0"),
    ("substring('abc', 1)", "E204", 1, 19, "`substring` takes 3 arguments, got 2"),
    ("matches('a')", "E101", 1, 12, "the pattern of `matches` must be a string literal"),
    ("matches('a', 'b', 'c')", "E204", 1, 22, "`matches` takes 2 arguments"),
    ("config_get(rcpt)", "E101", 1, 16, "the key of `config_get` must be a string literal"),
    ("config_get('a', 'b')", "E204", 1, 20, "`config_get` takes 1 argument, a string literal"),
    ("len", "E101", 1, 3, "`len` is a function: call it with parentheses"),
    ("[1, -1]", "E101", 5, 2, "an array element cannot start with `-`"),
    ("[(1)]", "E101", 2, 3, "an array element cannot start with `(`"),
    ("[!1]", "E101", 2, 2, "an array element cannot start with `!`"),
    ("recipients[-1]", "E101", 12, 2, "an index cannot start with `-`"),
    ("'abc'[0]", "E101", 1, 8, "only a variable, a call, a parenthesised expression or an "
                               "array can be indexed"),
    ("- -1", "E101", 3, 2, "`-` cannot be followed directly by `-`"),
    ("!-5", "E101", 2, 2, "`!` cannot be followed directly by `-`"),
])
def test_error_message_code_and_span(source: str, code: str, column: int, length: int,
                                     message: str) -> None:
    err = error_of(source)
    assert err.code == code
    assert err.message.startswith(message), err.message
    assert err.span is not None
    assert (err.span.line, err.span.column, err.span.length) == (1, column, length)


def test_suggestions_name_the_closest_variable_and_function() -> None:
    assert error_of("rcpt_domian").suggestion == "rcpt_domain"
    assert error_of("to_lowercas(rcpt)").suggestion == "to_lowercase"
    assert error_of("1 =1").suggestion == "=="
    assert error_of("1 => 0").suggestion == ">="


def test_a_known_variable_outside_the_scope_says_what_the_setting_allows() -> None:
    err = error_of("'x@' + mx", ("rcpt_domain",))
    assert err.code == "E202"
    assert err.message == "variable `mx` is not available here"
    assert err.help == "this setting can use: rcpt_domain"


def test_a_word_in_a_setting_with_constants_lists_them() -> None:
    err = error_of("monthly", SMTP_QUEUE_HOST_VARS, dict(FREQUENCY_CONSTANTS))
    assert err.code == "E201"
    assert err.help is not None and "daily" in err.help and "weekly" in err.help


def test_unquoted_text_is_pointed_out() -> None:
    err = error_of("TLS", ("rcpt_domain",))
    assert err.message == "unknown name `TLS`"
    assert err.help == "text must be quoted: 'TLS'"
    err = error_of("TLS Report", ("rcpt_domain",))
    assert err.message == "missing operator before `Report`"
    assert err.help == "if this is text, quote it: 'TLS Report'"


def test_missing_closer_names_the_opener() -> None:
    err = error_of("len(split(rcpt, ',')")
    assert err.message == "missing `)`"
    assert err.help == "to close the `(` opened at `len(split(rcpt, ',')`"


def test_spans_count_lines_and_columns() -> None:
    err = error_of("rcpt == 'a' &&\n  nosuch")
    assert err.span is not None
    assert (err.span.line, err.span.column, err.span.start) == (2, 3, 17)


def test_length_and_depth_limits_are_parse_errors() -> None:
    assert error_of("1" * (MAX_SOURCE_LENGTH + 1)).code == "E104"
    deep = "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5)
    assert error_of(deep).code == "E104"


def test_durations_and_names_resolve_as_the_spec_orders_them() -> None:
    node = parse("h2 + 1m1s", Scope.of(()))
    assert isinstance(node, ast.Binary)
    assert node.left == ast.Literal(7_200_000, node.left.span, name="h2")
    assert isinstance(node.right, ast.Literal) and node.right.value == 11
    # A setting's own name wins over the duration reading of the same word.
    assert isinstance(parse("h2", Scope.of(("h2",))), ast.Variable)


def test_constants_are_literals_that_remember_their_name() -> None:
    node = parse("daily", Scope.of((), FREQUENCY_CONSTANTS))
    assert isinstance(node, ast.Literal)
    assert (node.value, node.name) == (3, "daily")


def test_parse_errors_pickle_with_their_details() -> None:
    import pickle
    err = error_of("rcpt_domian")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.span, copy.suggestion, copy.code) == (
        err.message, err.span, err.suggestion, err.code)


def test_grammar_has_no_conflicts_in_strict_mode() -> None:
    from lark import Lark

    from engine.expr.syntax import _grammar_text
    Lark(_grammar_text(), parser="lalr", strict=True)
