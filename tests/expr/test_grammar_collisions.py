"""The grammar's terminals never collide: Lark's interegular check, run here, not at start-up."""

from __future__ import annotations

import lark.lexer
import interegular  # noqa: F401 - a test extra: the check below needs it
from lark import Lark

from engine.expr.syntax import PARSER_OPTIONS, _grammar_text, get_parser


def test_no_terminal_collisions_in_strict_mode() -> None:
    assert lark.lexer.has_interegular
    # strict: a collision between two terminals raises instead of being logged
    Lark(_grammar_text(), strict=True, **PARSER_OPTIONS)


def test_collision_check_is_back_on_after_building() -> None:
    get_parser.cache_clear()
    before = lark.lexer.has_interegular
    get_parser()
    assert lark.lexer.has_interegular is before
