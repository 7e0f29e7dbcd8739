"""Every rule of the catalogue, through the examples of docs/lint.md.

docs/lint.md has one section per code, headed `## <CODE> <name>`, with a **bad** TOML snippet
and a **good** one (the first and second ```toml blocks of the section). The tests read the
snippets from the page, so the documentation and the tests cannot drift apart:

- the bad snippet reports its code exactly once, at the line and column hard-coded in
  `EXPECTED` below, and nothing else but the companions listed in `COMPANIONS`;
- the good snippet reports nothing at all;
- the ```text block of the section is what `tlsrpt lint tlsrpt.toml` really prints.

A snippet may start with `# lint-test:` comments (ordinary TOML comments):

- `# lint-test: env NAME=VALUE` sets an environment variable for that snippet (every other
  snippet is linted with an empty environment);
- `# lint-test: skip` keeps the snippet out of the generic tests: it needs bytes a Markdown page
  cannot show and has a dedicated test here (E002).

Snippets load their DKIM keys from `/etc/tlsrpt/<name>.pem`; the tests replace `/etc/tlsrpt`
by a temporary folder holding copies of the example keys (examples/keys/).

Engine bugs found while writing these tests are strict xfails at the end of the module.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import Diagnostic, Severity
from engine.diagnostics.catalogue import RULES
from engine.lint.check import lint_file, lint_text

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "lint.md"
EXAMPLE = ROOT / "examples" / "tlsrpt.toml"
KEYS = ROOT / "examples" / "keys"
DOC_KEY_DIR = "/etc/tlsrpt"

#: (line, column) of the one finding of each bad example, in the snippet as the page shows it.
EXPECTED: dict[str, tuple[int, int]] = {
    "E001": (1, 22),   # the end of `[report.tls.aggregate`
    "E002": (3, 18),   # the byte 0xE9 of `Société`
    "E003": (5, 1),    # the second definition, `"tls.aggregate.send"`
    "E004": (2, 8),    # `never`
    "W003": (2, 12),   # the date
    "W005": (3, 12),   # the '...' string
    "E010": (2, 18),   # `%{env:TLSRPT_CONTACT}%`
    "E011": (2, 16),   # `%{file:...}%`
    "E012": (5, 14),   # `%{cfg:report.domian}%`
    "E013": (8, 37),   # the second, unclosed `%{cfg:`
    "E014": (17, 8),   # tested in tests/hostile/test_macros.py
    "W015": (2, 15),   # tested in tests/hostile/test_macros.py
    "W413": (2, 21),   # the number 12
    "W414": (2, 9),    # the bare number 10800000
    "E101": (3, 43),   # just after `'.test'`, where `)` is missing
    "E102": (2, 13),   # `25MB`
    "E103": (3, 21),   # the pattern `'^(small|tiny)[.-'`
    "E104": (2, 120),  # the innermost operand, past 99 `!`
    "E105": (2, 13),   # `"TLS Report"`
    "E201": (3, 13),   # `rcpt_domian`
    "E202": (3, 13),   # `sender_domain`
    "E203": (3, 13),   # the call of `endswith`
    "E204": (3, 13),   # the call of `ends_with`
    "E301": (2, 1),    # the setting `send`, which misses its `else`
    "W302": (3, 65),   # the key `comment`
    "W303": (3, 12),   # the condition `'bigmail.example'`
    "W304": (4, 7),    # the `if` of the rule after `true`
    "W305": (4, 12),   # the second `rcpt_domain == 'bigmail.example'`
    "E401": (2, 8),    # `"'daily'"`
    "W402": (2, 16),   # `"'noreply-tls'"`
    "W403": (2, 13),   # the value with its extra quotes
    "W404": (2, 1),    # the key `max-sise`
    "W405": (2, 12),   # the expression with `config_get('report.organisation')`
    "E501": (2, 8),    # the `sign` value
    "E502": (1, 1),    # the table header of the signature
    "E503": (2, 15),   # the private key's value
    "W504": (2, 8),    # the `sign` value
    "W410": (3, 12),   # the empty (after its macro) `hostname` value
    "W411": (2, 12),   # the upper-case `hostname` value
    "W412": (2, 13),   # the `submitter` with `key_get('default', 'hostname')`
    "E505": (5, 1),    # the key `algorithm`
    "E506": (2, 1),    # the key `private-key` of the 512-bit key
    "W507": (5, 1),    # the key `expire`
    "W508": (5, 1),    # the key `canonicalisation`
    "W520": (5, 16),   # the `contact-info` value
    "W521": (2, 16),   # the `from-address` value
}

#: Other codes a bad example reports besides its own (and where).
COMPANIONS: dict[str, dict[str, tuple[int, int]]] = {
    "W304": {"W303": (3, 12)},  # the always-true condition that makes the rule unreachable
}

#: Codes whose snippets are `# lint-test: skip`, each with its dedicated test below.
SKIPPED = {"E002", "E014", "W015"}

_SECTION = re.compile(r"^## (?P<code>[EW]\d{3}) (?P<name>[a-z0-9-]+)\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_ENV = re.compile(r"^# lint-test: env (?P<name>\w+)=(?P<value>\S*)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    code: str
    name: str
    text: str

    def blocks(self, info: str) -> list[str]:
        return [m["body"] for m in _FENCE.finditer(self.text) if m["info"].strip() == info]

    @property
    def bad(self) -> str:
        return self.blocks("toml")[0]

    @property
    def good(self) -> str:
        return self.blocks("toml")[1]

    @property
    def output(self) -> str:
        return self.blocks("text")[0]


def _sections() -> dict[str, Section]:
    text = DOC.read_text(encoding="utf-8")
    found: dict[str, Section] = {}
    heads = list(re.finditer(r"^## ", text, re.MULTILINE))
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        match = _SECTION.match(text, head.start())
        if match:
            found[match["code"]] = Section(match["code"], match["name"], text[head.start():end])
    return found


SECTIONS = _sections()


def section(code: str) -> Section:
    assert code in SECTIONS, f"docs/lint.md has no section `## {code} {RULES[code].name}`"
    return SECTIONS[code]


def is_skipped(snippet: str) -> bool:
    return snippet.startswith("# lint-test: skip")


def environ_of(snippet: str) -> dict[str, str]:
    return {m["name"]: m["value"] for m in _ENV.finditer(snippet)}


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A stand-in for /etc/tlsrpt: copies of the example DKIM keys."""
    folder = tmp_path / "keys"
    folder.mkdir()
    for key in KEYS.glob("*.pem"):
        shutil.copy(key, folder / key.name)
    return folder


def prepared(snippet: str, key_dir: Path) -> str:
    return snippet.replace(DOC_KEY_DIR, key_dir.as_posix())


def lint_snippet(snippet: str, key_dir: Path) -> list[Diagnostic]:
    return lint_text(prepared(snippet, key_dir), environ=environ_of(snippet))


def where(diagnostics: list[Diagnostic], code: str) -> list[tuple[int, int] | None]:
    return [(d.span.line, d.span.column) if d.span else None
            for d in diagnostics if d.code == code]


def show(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diagnostics) or "(nothing)"


DOC_TESTED = [code for code in RULES if code not in SKIPPED]


# --- (a) the page has a section per code -----------------------------------------------------

def test_expected_positions_cover_the_catalogue() -> None:
    assert set(EXPECTED) == set(RULES)


@pytest.mark.parametrize("code", list(RULES))
def test_every_code_has_its_section(code: str) -> None:
    rule = RULES[code]
    found = section(code)
    assert found.name == rule.name
    assert f"**Severity:** {rule.severity.value}." in found.text
    for heading in ("**What it finds.**", "**Why it matters.**", "**How to fix it.**"):
        assert heading in found.text, f"{code}: no {heading}"
    assert len(found.blocks("toml")) == 2, f"{code}: a bad and a good ```toml block"
    bad_at = found.text.index("**Bad:**")
    good_at = found.text.index("**Good:**")
    assert bad_at < found.text.index(found.bad) < good_at < found.text.index(found.good)
    assert found.output.startswith("$ tlsrpt lint tlsrpt.toml\n")
    assert f"[{code}]" in found.output


def test_no_section_for_an_unknown_code() -> None:
    assert set(SECTIONS) == set(RULES)


def test_sections_follow_the_catalogue_order() -> None:
    assert list(SECTIONS) == list(RULES)


def test_only_the_listed_snippets_are_skipped() -> None:
    skipped = {code for code in RULES
               if is_skipped(section(code).bad) or is_skipped(section(code).good)}
    assert skipped == SKIPPED


def test_the_page_links_every_code_with_the_json_url() -> None:
    """The JSON `url` of a code is `docs/lint.md#<code>-<name>`: the page links that anchor."""
    text = DOC.read_text(encoding="utf-8")
    for code, rule in RULES.items():
        assert f"(#{code.lower()}-{rule.name})" in text, code


# --- (b) bad examples report their code, good ones nothing ------------------------------------

@pytest.mark.parametrize("code", DOC_TESTED)
def test_bad_example_reports_its_code_where_expected(code: str, key_dir: Path) -> None:
    found = lint_snippet(section(code).bad, key_dir)
    assert where(found, code) == [EXPECTED[code]], show(found)
    others = {d.code: where(found, d.code) for d in found if d.code != code}
    assert others == {other: [at] for other, at in COMPANIONS.get(code, {}).items()}, show(found)
    assert all(d.severity is RULES[code].severity for d in found if d.code == code)


@pytest.mark.parametrize("code", DOC_TESTED)
def test_good_example_is_clean(code: str, key_dir: Path) -> None:
    found = lint_snippet(section(code).good, key_dir)
    assert code not in {d.code for d in found}, show(found)
    assert found == [], show(found)


def _run_cli(tmp_path: Path, key_dir: Path, data: bytes, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str], environ: dict[str, str]) -> tuple[int, str]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "tlsrpt.toml").write_bytes(data)
    monkeypatch.chdir(work)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name in ("TLSRPT_CONTACT",):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    status = main(["lint", "tlsrpt.toml"])
    captured = capsys.readouterr()
    return status, (captured.out + captured.err).replace(key_dir.as_posix(), DOC_KEY_DIR)


#: their bad examples need a 20-link chain or a file mode, which a page cannot carry; the
#: output is checked in tests/hostile/test_macros.py
_OUTPUT_ELSEWHERE = {"E014", "W015"}


@pytest.mark.parametrize("code", [code for code in RULES if code not in _OUTPUT_ELSEWHERE])
def test_the_shown_output_is_what_lint_prints(
        code: str, tmp_path: Path, key_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    found = section(code)
    snippet = found.bad
    data = prepared(snippet, key_dir).encode("latin-1" if code == "E002" else "utf-8")
    status, output = _run_cli(tmp_path, key_dir, data, monkeypatch, capsys, environ_of(snippet))
    shown = found.output.removeprefix("$ tlsrpt lint tlsrpt.toml\n")
    if DOC_KEY_DIR in snippet:
        # The temporary folder's path is longer than /etc/tlsrpt: carets under it differ.
        def no_carets(text: str) -> list[str]:
            return [line for line in text.splitlines() if "^" not in line]
        assert no_carets(output) == no_carets(shown)
    else:
        assert output == shown
    assert f"reports it (exit status {status})" in found.text


# --- the snippets that need files -------------------------------------------------------------

def test_e002_latin1_file(tmp_path: Path) -> None:
    bad = section("E002").bad
    path = tmp_path / "latin1.toml"
    path.write_bytes(bad.encode("latin-1"))
    found, text = lint_file(path)
    assert [(d.code, d.span and (d.span.line, d.span.column)) for d in found] == [
        ("E002", EXPECTED["E002"])]
    assert found[0].severity is Severity.ERROR
    assert found[0].file == str(path)
    assert "\ufffd" in text  # the text read, with a replacement character for the bad byte


def test_e002_good_is_the_same_text_in_utf8(tmp_path: Path) -> None:
    good = section("E002").good
    assert good.splitlines()[1:] == section("E002").bad.splitlines()[1:]
    path = tmp_path / "utf8.toml"
    path.write_bytes(good.encode("utf-8"))
    assert lint_file(path) == ([], good)


def test_e002_a_folder_cannot_be_read(tmp_path: Path) -> None:
    found, _ = lint_file(tmp_path)
    assert [d.code for d in found] == ["E002"]
    assert found[0].span is None


def test_e011_relative_path_starts_at_the_config_folder(tmp_path: Path, key_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "etc" / "tlsrpt.toml"
    config.parent.mkdir()
    shutil.copy(key_dir / "rsa.example.org.pem", config.parent / "rsa.example.org.pem")
    config.write_text('[signature."rsa-example.org"]\n'
                      'private-key = "%{file:rsa.example.org.pem}%"\n'
                      'domain = "example.org"\nselector = "rsa-2026"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the folder of the file: the path must not start here
    assert lint_file(config) == ([], config.read_text(encoding="utf-8"))
    (config.parent / "rsa.example.org.pem").unlink()
    found, _ = lint_file(config)
    assert [(d.code, d.span and (d.span.line, d.span.column)) for d in found] == [
        ("E011", (2, 16))]
    assert str(config.parent / "rsa.example.org.pem") in found[0].message


def test_e011_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(b"\xff\xfe")
    config = tmp_path / "tlsrpt.toml"
    config.write_text('[signature.rsa]\nprivate-key = "%{file:key.pem}%"\n'
                      'domain = "example.org"\nselector = "s"\n', encoding="utf-8")
    found, _ = lint_file(config)
    assert [d.code for d in found] == ["E011"]
    assert "not valid UTF-8" in found[0].message


def test_e503_key_of_the_other_algorithm(tmp_path: Path, key_dir: Path) -> None:
    """An RSA key declared as Ed25519 does not load either."""
    config = tmp_path / "tlsrpt.toml"
    config.write_text('[signature."rsa-example.org"]\n'
                      f'private-key = "%{{file:{key_dir.as_posix()}/rsa.example.org.pem}}%"\n'
                      'domain = "example.org"\nselector = "rsa-2026"\n'
                      'algorithm = "ed25519-sha256"\n', encoding="utf-8")
    found, _ = lint_file(config)
    assert [(d.code, d.span and (d.span.line, d.span.column)) for d in found] == [
        ("E503", (2, 15))]


def test_e503_not_a_key_inline() -> None:
    found = lint_text('[signature.rsa]\nprivate-key = "not a key"\ndomain = "example.org"\n'
                      'selector = "s"\n')
    assert [(d.code, d.key) for d in found] == [("E503", "signature.rsa.private-key")]


def test_e010_good_example_fails_without_its_variable(key_dir: Path) -> None:
    good = section("E010").good
    assert environ_of(good) == {"TLSRPT_CONTACT": "tlsrpt@example.org"}
    assert [d.code for d in lint_text(good, environ={})] == ["E010"]


# --- (c) the example configuration is clean ---------------------------------------------------

def test_example_configuration_has_no_finding() -> None:
    assert lint_file(EXAMPLE, environ={}) == ([], EXAMPLE.read_text(encoding="utf-8"))


def test_example_configuration_is_clean_through_the_cli(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--strict", str(EXAMPLE)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "1 file checked: no problems found\n"


# --- (d) every finding of a file, in one run and in file order --------------------------------

FIVE_MISTAKES = """\
[report.tls.aggregate]
max-sise = 1048576
from-name = "TLS Report"
send = [
    { if = "rcpt_domian == 'bigmail.example'", then = "hourly" },
    { else = "daily" },
]
org-name = "config_get('report.organisation')"
from-address = "'noreply-tls'"

[signature."rsa-example.org"]
domain = "example.org"
"""


def test_all_findings_of_a_file_in_one_run_in_file_order() -> None:
    found = lint_text(FIVE_MISTAKES, file="five.toml", environ={})
    assert [(d.code, d.span.line, d.span.column) for d in found if d.span] == [
        ("W404", 2, 1),
        ("E105", 3, 13),
        ("E201", 5, 13),
        ("W405", 8, 12),
        ("W402", 9, 16),
        ("E502", 11, 1),
    ]
    assert all(d.file == "five.toml" for d in found)
    starts = [d.span.start for d in found if d.span]
    assert starts == sorted(starts)


def test_findings_in_file_order_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "five.toml").write_text(FIVE_MISTAKES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["lint", "five.toml"]) == 1
    captured = capsys.readouterr()
    heads = re.findall(r"^(?:error|warning)\[(\w+)\].*\n\s*--> five\.toml:(\d+):(\d+)$",
                       captured.out, re.MULTILINE)
    assert heads == [("W404", "2", "1"), ("E105", "3", "13"), ("E201", "5", "13"),
                     ("W405", "8", "12"), ("W402", "9", "16"), ("E502", "11", "1")]
    assert captured.err == "1 file checked: 3 errors, 3 warnings\n"


def test_lint_text_and_lint_file_agree(tmp_path: Path) -> None:
    path = tmp_path / "five.toml"
    path.write_text(FIVE_MISTAKES, encoding="utf-8")
    from_file, text = lint_file(path, environ={})
    assert text == FIVE_MISTAKES
    assert from_file == lint_text(FIVE_MISTAKES, file=str(path), environ={})


# --- mechanical fixes ----------------------------------------------------------------------------

def apply_fix(text: str, diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None and diagnostic.suggestion is not None
    return text[:diagnostic.span.start] + diagnostic.suggestion + text[diagnostic.span.end:]


#: Codes whose bad example comes with a suggestion, and why applying it is wrong today.
_WITH_FIX = [code for code in DOC_TESTED if code not in COMPANIONS]


def _fixable(code: str) -> bool:
    if code not in SECTIONS:  # reported by test_every_code_has_its_section
        return False
    return any(d.suggestion is not None and d.code == code
               for d in lint_text(section(code).bad, environ={}))


@pytest.mark.parametrize("code", [code for code in _WITH_FIX if _fixable(code)])
def test_applying_the_suggestion_fixes_the_bad_example(code: str, key_dir: Path) -> None:
    text = prepared(section(code).bad, key_dir)
    environ = environ_of(text)
    (diagnostic,) = [d for d in lint_text(text, environ=environ) if d.code == code]
    fixed = apply_fix(text, diagnostic)
    after = lint_text(fixed, environ=environ)
    assert code not in {d.code for d in after}, show(after)
    assert not [d for d in after if d.severity is Severity.ERROR], show(after)


def test_the_fixable_codes_are_known() -> None:
    """So that a new suggestion is noticed: these bad examples carry a suggestion."""
    assert {code for code in _WITH_FIX if _fixable(code)} == {
        "E004", "E101", "E105", "E201", "E203", "W404", "E501", "W411", "W413", "W414"}


# --- engine bugs found while writing these tests (strict xfails) -----------------------------

def test_every_code_lint_emits_is_in_the_catalogue() -> None:
    found = lint_text('[server]\nhostname = 1979-05-27\n', environ={})
    assert [d.code for d in found] == ["W003"]
    assert all(d.code in RULES for d in found)


def test_e101_help_points_into_the_file() -> None:
    (diagnostic,) = lint_text(section("E101").bad, environ={})
    # The help quotes the opener rather than giving expression-relative positions.
    assert diagnostic.help is not None and diagnostic.help.startswith("to close the `(` opened at")


def test_w404_fix_of_a_dotted_key_names_the_setting() -> None:
    text = '[report]\ntls.aggregate.sned = "daily"\n'
    (diagnostic,) = lint_text(text, environ={})
    assert diagnostic.code == "W404"
    fixed = apply_fix(text, diagnostic)
    assert lint_text(fixed, environ={}) == [], fixed


def test_w404_on_a_block_is_reported_once_at_the_setting() -> None:
    text = ('[report.tls.aggregate]\n'
            'max-sise = [ { if = "rcpt_domain == \'a.example\'", then = "65536" }, '
            '{ else = "1048576" } ]\n')
    found = lint_text(text, environ={})
    assert [(d.code, d.span.line, d.span.column) for d in found if d.span] == [("W404", 2, 1)]


def test_e503_message_is_one_line(key_dir: Path) -> None:
    found = lint_snippet(section("E503").bad, key_dir)
    assert [d.code for d in found] == ["E503"]
    assert "\n" not in found[0].message
