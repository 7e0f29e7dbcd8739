"""The configurations that the user guide shows operators (docs/postfix.md, docs/reporting.md)
lint clean: a reader who copies one gets no finding, apart from the files their `%{file:...}%`
macros name, which live on the operator's machine (E011)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.lint.check import lint_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ("postfix.md", "reporting.md")
_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for block in _TOML_BLOCK.finditer(text):
            line = text.count("\n", 0, block.start()) + 2
            found.append((page, line, block.group(1)))
    return found


BLOCKS = _blocks()


def test_the_guide_shows_configurations() -> None:
    assert {page for page, _, _ in BLOCKS} == set(PAGES)


@pytest.mark.parametrize(("page", "line", "source"), BLOCKS,
                         ids=[f"{page}:{line}" for page, line, _ in BLOCKS])
def test_a_configuration_in_the_guide_lints_clean(page: str, line: int, source: str) -> None:
    findings = [f"{d.code} {d.message}" for d in lint_text(source, f"{page}:{line}")
                if d.code != "E011"]
    assert findings == []
