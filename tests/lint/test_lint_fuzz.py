"""Fuzzing `tlsrpt lint`: whatever the input, the linter returns, in time, with diagnostics that
make sense, and it never passes a configuration that the loader refuses.

Inputs: random bytes written to a file, random text, TOML-like text built from the pieces a
configuration is made of, and random mutations of examples/tlsrpt.toml (characters deleted,
inserted or replaced, lines dropped or duplicated, quotes swapped).

For every input:

- `lint_file` / `lint_text` return (no exception) within `HANG_GUARD` seconds; every renderer
  renders the result;
- every diagnostic is well formed: a code of the catalogue with its severity, a span inside the
  text whose line and column agree with its offset, diagnostics in file order;
- when `engine.load_config` rejects the same input (raises `engine.ConfigError`), the linter
  reports at least one error.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import Diagnostic, Severity, Span
from engine.diagnostics.catalogue import RULES
from engine.lint.check import lint_file, lint_text
from engine.diagnostics.render import FORMATS, render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tlsrpt.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")

#: seconds one lint (or load) may take before the test calls it a hang
HANG_GUARD = 60.0

#: W003 (a TOML date as a value) is emitted but not in the catalogue: an engine bug, see
#: tests/lint/test_rules.py::test_every_code_lint_emits_is_in_the_catalogue.
_UNCATALOGUED = {"W003": Severity.WARNING}

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

T = TypeVar("T")


def guarded(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `function` in a thread; fail if it does not return within HANG_GUARD seconds, and
    re-raise whatever it raised."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    if thread.is_alive():
        pytest.fail(f"{getattr(function, '__name__', function)} did not return within "
                    f"{HANG_GUARD} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def check_diagnostics(found: list[Diagnostic], text: str, file: str | None) -> None:
    assert isinstance(found, list)
    starts = []
    for diagnostic in found:
        assert isinstance(diagnostic, Diagnostic)
        expected = RULES[diagnostic.code].severity if diagnostic.code in RULES else \
            _UNCATALOGUED.get(diagnostic.code)
        assert expected is not None, f"unknown code {diagnostic.code}: {diagnostic}"
        assert diagnostic.severity is expected, diagnostic
        assert diagnostic.file == file, diagnostic
        assert diagnostic.message, diagnostic
        span = diagnostic.span
        if span is None:
            starts.append(-1)
            continue
        assert 0 <= span.start <= span.end <= len(text), diagnostic
        here = Span.in_text(text, span.start)
        assert (span.line, span.column) == (here.line, here.column), diagnostic
        starts.append(span.start)
    assert starts == sorted(starts), "diagnostics are not in file order"


def check_renders(found: list[Diagnostic], text: str, file: str | None) -> None:
    for fmt in FORMATS:
        output = render(fmt, found, {file: text}, color=fmt == "text")
        assert isinstance(output, str)
        assert not found or output


def loader_rejects(source: str | os.PathLike[str]) -> bool:
    def load() -> bool:
        try:
            engine.load_config(source, environ={})
        except engine.ConfigError:
            return True
        return False
    return guarded(load)


def errors(found: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in found if d.severity is Severity.ERROR]


def check_file(path: Path) -> None:
    found, text = guarded(lint_file, path, environ={})
    check_diagnostics(found, text, str(path))
    check_renders(found, text, str(path))
    if loader_rejects(path):
        assert errors(found), "load_config rejects the file but lint reports no error"


def check_text(text: str) -> None:
    found = guarded(lint_text, text, environ={})
    check_diagnostics(found, text, None)
    check_renders(found, text, None)
    # load_config reads a one-line string that names an existing file as that file.
    if "\n" in text or not os.path.isfile(text):
        if loader_rejects(text):
            assert errors(found), "load_config rejects the text but lint reports no error"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder like examples/: the configuration's `%{file:keys/...}%` macros resolve."""
    folder = tmp_path_factory.mktemp("lint-fuzz")
    shutil.copytree(ROOT / "examples" / "keys", folder / "keys")
    return folder


# --- random bytes and random text -------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(workdir: Path, data: bytes) -> None:
    path = workdir / "random.toml"
    path.write_bytes(data)
    check_file(path)


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=200).map(lambda b: EXAMPLE_TEXT.encode() + b),
    st.tuples(st.integers(0, len(EXAMPLE_TEXT.encode())), st.binary(min_size=1, max_size=4))
    .map(lambda t: EXAMPLE_TEXT.encode()[:t[0]] + t[1] + EXAMPLE_TEXT.encode()[t[0]:]),
))
def test_example_with_random_bytes(workdir: Path, data: bytes) -> None:
    path = workdir / "bytes.toml"
    path.write_bytes(data)
    check_file(path)


@FUZZ
@given(text=st.text(max_size=500))
def test_random_text(text: str) -> None:
    check_text(text)


# --- TOML-like text -------------------------------------------------------------------------------

_TABLES = ["[report]", "[report.tls.aggregate]", "[server]", '[signature."rsa-x"]',
           "[signature.ed]", "[[report.tls.aggregate.send]]", "[[report.tls.aggregate.max-size]]",
           "[report.tls]", "[report.dmarc]"]
_KEYS = ["send", "max-size", "from-name", "from-address", "org-name", "contact-info", "sign",
         "delay", "send-all-success", "suppress", "unique-id", "compression-level", "domain",
         "hostname", "submitter", "private-key", "selector", "algorithm", "if", "then", "else",
         "tls.aggregate.send", '"tls.aggregate.send"', "max-sise", "send.0.if", "send.0.then",
         "send.1.else", "send.when", "x"]
_EXPRESSIONS = ["daily", "never", "hourly", "monthly", "'daily'", "26214400", "-1", "1e3",
                "25MB", "10s", "0s", "true", "false", "'TLS Report'", "TLS Report",
                "\"'q'\"", "rcpt_domain", "rcpt_domian", "sender_domain",
                "rcpt_domain == 'a.example'", "rcpt_domain = 'a'", "rcpt_domain =='a'",
                "ends_with(rcpt_domain, '.test')", "endswith(rcpt_domain)", "ends_with(x)",
                "matches('^(a|b)[.-]', rcpt_domain)", "matches('[', rcpt_domain)", "$1",
                "if_then($1 == 'a', 1, 2)", "config_get('report.domain')",
                "config_get('report.nothing')", "'noreply-tls@' + config_get('report.domain')",
                "['rsa-x', 'ed']", "['missing']", "[]", "!" * 120 + "1", "(" * 60 + "1",
                "%{env:NOPE}%", "'%{cfg:report.domain}%'", "%{cfg:nothing}%", "%{env:A",
                "}% %{cfg:x", "%{file:keys/rsa.example.org.pem}%",
                "%{file:keys/ed25519.example.org.pem}%", "%{file:missing.pem}%",
                "'a\\d'", "ed25519-sha256", "rsa-sha256", "rsa-sha1", "", " ", "é", "\t1"]


@st.composite
def _toml_value(draw: st.DrawFn) -> str:
    expression = draw(st.sampled_from(_EXPRESSIONS))
    form = draw(st.sampled_from(["basic", "basic", "basic", "literal", "multi", "number",
                                 "bare", "array", "inline"]))
    if form == "basic":
        return '"' + expression.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if form == "literal":
        return "'" + expression.replace("'", "") + "'"
    if form == "multi":
        return "'''" + expression + "'''"
    if form == "number":
        return draw(st.sampled_from(["1", "0", "-5", "26214400", "1.5", "1e3", "0x1F", "true",
                                     "1979-05-27", "inf"]))
    if form == "bare":
        return expression
    if form == "array":
        return "[" + ", ".join('"' + e.replace("\\", "\\\\").replace('"', '\\"') + '"'
                               for e in draw(st.lists(st.sampled_from(_EXPRESSIONS),
                                                      max_size=3))) + "]"
    rules = draw(st.lists(st.tuples(st.sampled_from(["if", "then", "else", "than", "x"]),
                                    st.sampled_from(_EXPRESSIONS)), min_size=1, max_size=4))
    entries = []
    for key, expression in rules:
        entries.append("{ " + key + ' = "' + expression.replace("\\", "\\\\")
                       .replace('"', '\\"') + '" }')
    return "[ " + ", ".join(entries) + " ]"


_KEYS_OF = {
    "[report.tls.aggregate]": ["send", "max-size", "from-name", "from-address", "org-name",
                               "contact-info", "sign", "delay", "send-all-success", "suppress",
                               "unique-id", "compression-level", "max-sise", "send.0.if",
                               "send.0.then", "send.1.else", "send.when"],
    "[report]": ["domain", "submitter", "tls.aggregate.send", '"tls.aggregate.send"',
                 "tls.aggregate.sned", "x"],
    "[server]": ["hostname"],
    '[signature."rsa-x"]': ["private-key", "domain", "selector", "algorithm"],
    "[signature.ed]": ["private-key", "domain", "selector", "algorithm"],
    "[[report.tls.aggregate.send]]": ["if", "then", "else"],
    "[[report.tls.aggregate.max-size]]": ["if", "then", "else"],
}


@st.composite
def toml_like(draw: st.DrawFn) -> str:
    """Tables with mostly fitting keys: most of the output is TOML, so the later checks run."""
    lines = []
    tables = draw(st.lists(st.sampled_from(_TABLES), max_size=3, unique=True))
    if "[report.tls.aggregate]" not in tables and draw(st.booleans()):
        tables.insert(0, "[report.tls.aggregate]")
    for table in tables:
        lines.append(table)
        fitting = _KEYS_OF.get(table, _KEYS)
        used: set[str] = set()
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["pair", "pair", "pair", "other", "blank", "comment"]))
            if kind in ("pair", "other"):
                key = draw(st.sampled_from(fitting if kind == "pair" else _KEYS))
                if key in used and draw(st.integers(0, 9)):  # mostly no duplicate key
                    continue
                used.add(key)
                lines.append(f"{key} = {draw(_toml_value())}")
            elif kind == "comment":
                lines.append("# comment")
            else:
                lines.append("")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


@FUZZ
@given(text=toml_like())
def test_toml_like_text(text: str) -> None:
    check_text(text)


@FUZZ
@given(text=toml_like())
def test_toml_like_file(workdir: Path, text: str) -> None:
    path = workdir / "like.toml"
    path.write_bytes(text.encode("utf-8"))
    check_file(path)


# --- mutations of the example configuration -----------------------------------------------------

_INSERTS = list("\"'[]{}=.,#%$\\\n\t ()!|&") + ["}%", "%{", "'''", '"""', "==", "é", "a", "0",
                                                "if", "then", "else", "\r\n"]


@st.composite
def _mutation(draw: st.DrawFn, text: str) -> str:
    kind = draw(st.sampled_from(["delete", "insert", "replace", "drop-line", "duplicate-line",
                                 "swap-quotes", "swap-all-quotes", "delete-range"]))
    position = draw(st.integers(0, max(0, len(text) - 1)))
    if kind == "delete":
        return text[:position] + text[position + 1:]
    if kind == "delete-range":
        length = draw(st.integers(1, 40))
        return text[:position] + text[position + length:]
    if kind == "insert":
        return text[:position] + draw(st.sampled_from(_INSERTS)) + text[position:]
    if kind == "replace":
        return text[:position] + draw(st.sampled_from(_INSERTS)) + text[position + 1:]
    lines = text.split("\n")
    index = draw(st.integers(0, max(0, len(lines) - 1)))
    if kind == "drop-line":
        del lines[index]
    elif kind == "duplicate-line":
        lines.insert(index, lines[index])
    elif kind == "swap-quotes":
        line = lines[index]
        quotes = [i for i, char in enumerate(line) if char in "'\""]
        if quotes:
            at = draw(st.sampled_from(quotes))
            line = line[:at] + ("'" if line[at] == '"' else '"') + line[at + 1:]
        lines[index] = line
    else:
        lines[index] = lines[index].translate(str.maketrans({"'": '"', '"': "'"}))
    return "\n".join(lines)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    text = EXAMPLE_TEXT
    for _ in range(draw(st.integers(1, 4))):
        text = draw(_mutation(text))
    return text


@FUZZ
@given(text=mutated_example())
def test_mutated_example_file(workdir: Path, text: str) -> None:
    path = workdir / "tlsrpt.toml"
    path.write_bytes(text.encode("utf-8"))
    check_file(path)


@FUZZ
@given(text=mutated_example())
def test_mutated_example_text(text: str) -> None:
    check_text(text)


# --- the guard itself -----------------------------------------------------------------------------

def test_the_guard_reports_exceptions_and_values() -> None:
    assert guarded(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        guarded(lambda: 1 // 0)


def test_the_example_is_accepted_by_both() -> None:
    assert not loader_rejects(EXAMPLE)
    found, text = guarded(lint_file, EXAMPLE, environ={})
    assert (found, text) == ([], EXAMPLE_TEXT)
