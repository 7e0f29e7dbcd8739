"""docs/configuration.md carries the registry's reference verbatim."""

from __future__ import annotations

from pathlib import Path

from engine.config.reference import BEGIN, END, render_reference
from engine.config.settings import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_in_the_docs_matches_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == render_reference(), \
        "docs/configuration.md is stale: regenerate with python -m engine.config.reference"


def test_every_setting_has_its_default_and_variables_in_the_docs() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in SETTINGS:
        assert f"### `{spec.key}`" in text
        if spec.default:
            assert f"`{spec.default}`" in text
