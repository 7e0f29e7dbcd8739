"""engine.config.load: TOML to Stalwart's flat keys, with the source map of every key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config.load import FlatConfig, ValueOrigin, load_toml, read_config_file
from engine.errors import Severity, Span


def token(config: FlatConfig, span: Span) -> str:
    return config.text[span.start : span.end]


def assert_source_map(config: FlatConfig) -> None:
    """Every value span holds the value token; content offsets map strings one to one."""
    for key, value in config.values.items():
        origin = config.origins[key]
        assert Span.in_text(config.text, origin.value_span.start, origin.value_span.end) == (
            origin.value_span
        )
        assert Span.in_text(config.text, origin.key_span.start, origin.key_span.end) == (
            origin.key_span
        )
        if origin.kind == "string":
            assert token(config, origin.value_span)[0] in "\"'"
            if origin.content_offset is not None:
                start = origin.content_offset
                assert config.text[start : start + len(value)] == value
        elif origin.kind == "boolean":
            assert token(config, origin.value_span) == value
        else:
            assert origin.content_offset is None
            assert token(config, origin.value_span) == value


def tomli_leaf_count(node: object) -> int:
    if isinstance(node, dict):
        return sum(tomli_leaf_count(child) for child in node.values())
    if isinstance(node, list):
        return sum(tomli_leaf_count(child) for child in node)
    return 1


def load(text: str) -> FlatConfig:
    config = load_toml(text, "cfg.toml")
    assert_source_map(config)
    return config


# -- values ------------------------------------------------------------------------------------


def test_each_value_kind() -> None:
    config = load(
        's = "daily"\ni = 26214400\nf = 2.5\nyes = true\nno = false\nd = 1979-05-27\n'
    )
    assert config.values == {
        "d": "1979-05-27",
        "f": "2.5",
        "i": "26214400",
        "no": "false",
        "s": "daily",
        "yes": "true",
    }
    kinds = {key: origin.kind for key, origin in config.origins.items()}
    assert kinds == {
        "d": "datetime",
        "f": "float",
        "i": "integer",
        "no": "boolean",
        "s": "string",
        "yes": "boolean",
    }
    assert config.origins["s"] == ValueOrigin(
        "cfg.toml", Span(0, 1, 1, 1), Span(4, 11, 1, 5), 5, "string"
    )
    assert config.origins["i"] == ValueOrigin(
        "cfg.toml", Span(12, 13, 2, 1), Span(16, 24, 2, 5), None, "integer"
    )


@pytest.mark.parametrize(
    "written",
    ["1e3", "26214400", "-1", "+5", "0x1F", "0o17", "0b101", "1_000", "inf", "-inf", "nan",
     "+nan", "3.14", "1.5E-3", "6.626e-34", "0", "-0.0"],
)
def test_numbers_keep_their_source_text(written: str) -> None:
    config = load(f"n = {written} # note\n")
    assert config.values == {"n": written}
    assert config.origins["n"].value_span == Span(4, 4 + len(written), 1, 5)


@pytest.mark.parametrize(
    "written",
    ["1979-05-27", "07:32:00", "07:32", "1979-05-27T07:32:00", "1979-05-27 07:32:00Z",
     "1979-05-27t00:32:00.999999-07:00"],
)
def test_dates_and_times_keep_their_text_with_a_warning(written: str) -> None:
    config = load(f"[a]\nwhen = {written}\nafter = 1\n")
    assert config.values == {"a.after": "1", "a.when": written}
    assert config.origins["a.when"].kind == "datetime"
    (warning,) = config.diagnostics
    assert warning.code == "W003"
    assert warning.severity is Severity.WARNING
    assert "dates" in warning.message and "not expression values" in warning.message
    assert warning.key == "a.when"
    assert warning.file == "cfg.toml"
    assert warning.span == Span(11, 11 + len(written), 2, 8)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "[empty]\n# nothing\n"])
def test_documents_without_values(text: str) -> None:
    config = load(text)
    assert (config.values, config.origins, config.diagnostics) == ({}, {}, ())


def test_values_are_ordered_by_key_bytes() -> None:
    config = load('b = 1\n"é" = 2\nB = 3\na = 4\n"a-" = 5\n')
    assert list(config.values) == ["B", "a", "a-", "b", "é"]
    assert list(config.origins) == list(config.values)


# -- strings -----------------------------------------------------------------------------------


def test_basic_string_without_escape_maps_one_to_one() -> None:
    config = load('k = "rcpt_domain == \'example.org\'"\n')
    assert config.values["k"] == "rcpt_domain == 'example.org'"
    assert config.origins["k"].content_offset == 5


def test_basic_string_with_escape_has_no_content_offset() -> None:
    config = load('k = "a\\tb\\"c\\u00e9"\n')
    assert config.values["k"] == 'a\tb"cé'
    origin = config.origins["k"]
    assert origin.content_offset is None
    assert token(config, origin.value_span) == '"a\\tb\\"c\\u00e9"'


def test_literal_string() -> None:
    config = load("k = 'C:\\dir\\n'\n")
    assert config.values["k"] == "C:\\dir\\n"
    assert config.origins["k"].content_offset == 5


def test_multiline_basic_string_trims_the_first_line_break() -> None:
    text = 'k = """\nline one\nline "two\\""""\n'
    config = load(text)
    assert config.values["k"] == 'line one\nline "two"'
    assert config.origins["k"].content_offset is None  # it has an escape
    assert config.origins["k"].value_span == Span(4, len(text) - 1, 1, 5)


def test_multiline_basic_string_without_escape_maps_one_to_one() -> None:
    config = load('k = """\nfirst\n"second"\n"""\n')
    assert config.values["k"] == 'first\n"second"\n'
    assert config.origins["k"].content_offset == 8


def test_multiline_basic_string_with_line_ending_backslash() -> None:
    config = load('k = """\\\n    joined \\\n    text"""\nnext = 1\n')
    assert config.values["k"] == "joined text"
    assert config.origins["k"].content_offset is None
    assert config.origins["next"].key_span.line == 4


def test_multiline_literal_string() -> None:
    config = load("k = '''\nThe first newline is\ntrimmed in raw strings.\n'''\n")
    assert config.values["k"] == "The first newline is\ntrimmed in raw strings.\n"
    assert config.origins["k"].content_offset == 8


def test_multiline_strings_ending_in_quotes() -> None:
    config = load("a = '''x'''''\nb = \"\"\"y\"\"\"\"\"\nc = 1\n")
    assert config.values == {"a": "x''", "b": 'y""', "c": "1"}
    assert config.origins["a"].value_span == Span(4, 13, 1, 5)
    assert config.origins["a"].content_offset == 7


def test_crlf_line_ends() -> None:
    text = "[t]\r\na = 'x'\r\nb = '''\r\none\r\ntwo'''\r\nc = \"\"\"\r\nsingle\"\"\"\r\n"
    config = load(text)
    assert config.values == {"t.a": "x", "t.b": "one\ntwo", "t.c": "single"}
    assert config.origins["t.a"].value_span == Span(9, 12, 2, 5)
    assert config.origins["t.b"].content_offset is None  # CRLF became LF
    assert config.origins["t.c"].content_offset == text.index("single")


def test_strings_containing_comment_and_bracket_characters() -> None:
    config = load('a = "# not a comment ] }" # comment\nb = [ "]", \'[\' ]\n')
    assert config.values == {"a": "# not a comment ] }", "b.0000": "]", "b.0001": "["}


# -- keys and tables ---------------------------------------------------------------------------


def test_table_header_prefixes_its_keys() -> None:
    config = load('[report.tls.aggregate]\nsend = "daily"\n')
    assert config.values == {"report.tls.aggregate.send": "daily"}
    origin = config.origins["report.tls.aggregate.send"]
    assert origin.key_span == Span(23, 27, 2, 1)
    assert origin.value_span == Span(30, 37, 2, 8)
    assert origin.content_offset == 31
    assert config.tables == {
        "report": Span(0, 22, 1, 1),
        "report.tls": Span(0, 22, 1, 1),
        "report.tls.aggregate": Span(0, 22, 1, 1),
    }
    assert config.diagnostics == ()


def test_header_with_spaces_and_quoted_parts() -> None:
    config = load('[ servers . "mx.example.org" ]\n"127.0.0.1" = "value"\n')
    assert config.values == {"servers.mx.example.org.127.0.0.1": "value"}
    assert config.origins["servers.mx.example.org.127.0.0.1"].key_span == Span(31, 42, 2, 1)


def test_dotted_keys_span_the_whole_key() -> None:
    config = load('[session]\nrcpt . "relay" . if = "x"\nrcpt.max = 10\n')
    assert config.values == {"session.rcpt.max": "10", "session.rcpt.relay.if": "x"}
    origin = config.origins["session.rcpt.relay.if"]
    assert token(config, origin.key_span) == 'rcpt . "relay" . if'
    assert origin.key_span == Span(10, 29, 2, 1)
    assert config.tables["session.rcpt"] == origin.key_span
    assert config.tables["session.rcpt.relay"] == origin.key_span


def test_arrays_of_tables() -> None:
    text = '[[route]]\nif = "a"\nthen = "b"\n\n[[route]]\nelse = "c"\n'
    config = load(text)
    assert config.values == {"route.0000.if": "a", "route.0000.then": "b", "route.0001.else": "c"}
    assert config.tables == {
        "route": Span(0, 9, 1, 1),
        "route.0000": Span(0, 9, 1, 1),
        "route.0001": Span(31, 40, 5, 1),
    }
    assert config.origins["route.0001.else"].key_span == Span(41, 45, 6, 1)


def test_empty_array_of_tables_element_keeps_its_position() -> None:
    config = load(
        '[[products]]\nname = "Hammer"\n\n[[products]]\n\n[[products]]\nname = "Nail"\n'
    )
    assert config.values == {"products.0000.name": "Hammer", "products.0002.name": "Nail"}
    assert "products.0001" in config.tables


def test_nested_arrays_of_tables_and_subtables() -> None:
    config = load(
        '[[fruits]]\nname = "apple"\n[fruits.physical]\ncolor = "red"\n'
        '[[fruits.varieties]]\nname = "red delicious"\n[[fruits.varieties]]\nname = "granny"\n'
        '[[fruits]]\nname = "banana"\n[[fruits.varieties]]\nname = "plantain"\n'
    )
    assert config.values == {
        "fruits.0000.name": "apple",
        "fruits.0000.physical.color": "red",
        "fruits.0000.varieties.0000.name": "red delicious",
        "fruits.0000.varieties.0001.name": "granny",
        "fruits.0001.name": "banana",
        "fruits.0001.varieties.0000.name": "plantain",
    }
    assert config.tables["fruits.0001.varieties.0000"].line == 11


def test_duplicate_flat_key_is_reported() -> None:
    config = load_toml('"a.b" = 1\n[a]\nb = 2\n')
    assert config.values == {"a.b": "1"}
    (duplicate,) = config.diagnostics
    assert duplicate.code == "E003"
    assert duplicate.severity is Severity.ERROR
    assert duplicate.key == "a.b"
    assert duplicate.span == Span(14, 15, 3, 1)


# -- arrays and inline tables ------------------------------------------------------------------


def test_spec_reader_example() -> None:
    config = load(
        "[database]\n"
        "ports = [ 8000, 8001 ]\n"
        'data = [ ["delta", "phi"], [3.14] ]\n'
        "temp_targets = { cpu = 79.5, case = 72.0 }\n"
    )
    assert config.values == {
        "database.data.0000.0000": "delta",
        "database.data.0000.0001": "phi",
        "database.data.0001.0000": "3.14",
        "database.ports.0000": "8000",
        "database.ports.0001": "8001",
        "database.temp_targets.case": "72.0",
        "database.temp_targets.cpu": "79.5",
    }
    ports = config.origins["database.ports.0001"]
    assert ports.key_span == ports.value_span == Span(27, 31, 2, 17)
    assert config.origins["database.temp_targets.cpu"].key_span == Span(87, 90, 4, 18)
    assert config.tables["database.ports"] == Span(11, 16, 2, 1)
    assert config.tables["database.data.0000"] == Span(43, 59, 3, 10)
    assert config.tables["database.temp_targets"] == Span(70, 82, 4, 1)


def test_empty_array_stores_nothing() -> None:
    config = load("[a]\nx = []\ny = [ [], [1] ]\n")
    assert config.values == {"a.y.0001.0000": "1"}
    assert config.tables["a.x"] == Span(4, 5, 2, 1)
    assert config.tables["a.y.0000"] == Span(17, 19, 3, 7)


def test_multiline_array_with_comments_and_trailing_comma() -> None:
    config = load(
        "sign = [  # keys\n"
        "  'rsa',   # first\n"
        "\n"
        "  # a comment line, [ not a value ]\n"
        '  "ed25519",\n'
        "]  # done\n"
        "after = true\n"
    )
    assert config.values == {"after": "true", "sign.0000": "rsa", "sign.0001": "ed25519"}
    assert config.origins["sign.0001"].value_span == Span(75, 84, 5, 3)
    assert config.origins["after"].key_span.line == 7


def test_inline_tables_in_arrays() -> None:
    config = load(
        "r = [ { if = 'a', then = { x = 1, y.z = [2] } }, {}, { else = false } ]\n"
    )
    assert config.values == {
        "r.0000.if": "a",
        "r.0000.then.x": "1",
        "r.0000.then.y.z.0000": "2",
        "r.0002.else": "false",
    }
    assert config.origins["r.0000.then.y.z.0000"].key_span == Span(41, 42, 1, 42)
    assert config.origins["r.0002.else"].key_span == Span(55, 59, 1, 56)
    assert config.tables["r.0001"] == Span(49, 51, 1, 50)
    assert config.tables["r.0000.then.y"] == Span(34, 37, 1, 35)


def test_multiline_inline_table() -> None:
    # TOML 1.1, which tomli 2.5 reads: line breaks, comments and a trailing comma.
    config = load("t = {\n  a = 1, # one\n  b = 'x',\n}\nu = 2\n")
    assert config.values == {"t.a": "1", "t.b": "x", "u": "2"}
    assert config.origins["t.b"].key_span == Span(23, 24, 3, 3)


SPEC_LAYOUTS = [
    pytest.param(
        """route = [ { if = "rcpt_domain == 'example.org'", then = "'local'" },
          { if = "retry_num > 1", then = "'fallback'" },
          { else = "'mx'" } ]
""",
        id="array-of-inline-tables",
    ),
    pytest.param(
        """[[route]]
if = "rcpt_domain == 'example.org'"
then = "'local'"
[[route]]
if = "retry_num > 1"
then = "'fallback'"
[[route]]
else = "'mx'"
""",
        id="array-of-tables",
    ),
    pytest.param(
        """route.0000.if = "rcpt_domain == 'example.org'"
route.0000.then = "'local'"
route.0001.if = "retry_num > 1"
route.0001.then = "'fallback'"
route.0002.else = "'mx'"
""",
        id="flattened-keys",
    ),
]


@pytest.mark.parametrize("text", SPEC_LAYOUTS)
def test_spec_if_then_else_layouts_give_one_flat_map(text: str) -> None:
    config = load(text)
    assert config.values == {
        "route.0000.if": "rcpt_domain == 'example.org'",
        "route.0000.then": "'local'",
        "route.0001.if": "retry_num > 1",
        "route.0001.then": "'fallback'",
        "route.0002.else": "'mx'",
    }
    assert config.diagnostics == ()


def test_flattened_layout_with_short_positions_keeps_them_as_written() -> None:
    config = load('route.0.if = "a"\nroute.0.then = "b"\nroute.10.else = "c"\n')
    assert list(config.values) == ["route.0.if", "route.0.then", "route.10.else"]


# -- errors ------------------------------------------------------------------------------------


def test_syntax_error_position() -> None:
    config = load_toml('[a]\nx = 1\ny = = 2\n', "bad.toml")
    assert config.values == {}
    assert config.origins == {}
    (error,) = config.diagnostics
    assert error.code == "E001"
    assert error.severity is Severity.ERROR
    assert error.message == "Invalid value"
    assert error.span == Span(14, 15, 3, 5)
    assert error.file == "bad.toml"
    assert str(error) == "bad.toml:3:5: error[E001] Invalid value"


def test_syntax_error_position_with_crlf() -> None:
    (error,) = load_toml("a = 1\r\nb = 2\r\nc = ]\r\n").diagnostics
    assert error.code == "E001"
    assert error.span == Span(18, 19, 3, 5)  # offsets in the text as given, CRs included


def test_bare_word_is_a_syntax_error() -> None:
    (error,) = load_toml("send = never\n").diagnostics
    assert (error.code, error.span) == ("E001", Span(7, 8, 1, 8))


def test_deep_nesting_is_a_diagnostic() -> None:
    text = "x = " + "[" * 150 + "]" * 150 + "\n"
    (error,) = load_toml(text).diagnostics
    assert error.code == "E001"
    assert "nested" in error.message


def test_read_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[t]\nk = 'v'\n", encoding="utf-8")
    config = read_config_file(path)
    assert config.file == str(path)
    assert config.values == {"t.k": "v"}
    assert config.origins["t.k"].file == str(path)


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    config = read_config_file(path)
    assert config.values == {}
    (error,) = config.diagnostics
    assert error.code == "E002"
    assert error.severity is Severity.ERROR
    assert error.file == str(path)
    assert "No such file" in error.message


def test_directory_is_a_diagnostic(tmp_path: Path) -> None:
    (error,) = read_config_file(tmp_path).diagnostics
    assert error.code == "E002"


def test_invalid_utf8_is_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"a = '\xc3\xa9'\nb = 'caf\xe9'\n")  # an e-acute, then a Latin-1 one
    config = read_config_file(path)
    assert config.values == {}
    (error,) = config.diagnostics
    assert error.code == "E002"
    assert "UTF-8" in error.message
    assert error.span == Span(16, 17, 2, 9)
    assert config.text[error.span.start] == "\ufffd"


# -- property: the source map holds for any document -------------------------------------------


@dataclass(frozen=True)
class Scalar:
    token: str  # as written in the file
    text: str  # the flat value expected


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]
    multiline: bool
    as_headers: bool  # an array of tables written as [[...]] sections


@dataclass(frozen=True)
class Table:
    entries: tuple[tuple[str, str, Node], ...]  # (decoded key, key as written, value)
    inline: bool


Node = Scalar | Array | Table

_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f") | st.sampled_from(
        "\"'\\\n\t #[]{}=,."
    ),
    max_size=12,
)


def basic(text: str, *, escape_non_ascii: bool = False) -> str:
    """`text` as a TOML basic string, escaping what must be (and non-ASCII if asked)."""
    escaped = {"\"": "\\\"", "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
    out = []
    for char in text:
        if char in escaped:
            out.append(escaped[char])
        elif escape_non_ascii and ord(char) > 0x7F:
            out.append(f"\\U{ord(char):08X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@st.composite
def strings(draw: st.DrawFn) -> Scalar:
    text = draw(_TEXT)
    forms = [basic(text, escape_non_ascii=draw(st.booleans()))]
    if "'" not in text and "\n" not in text:
        forms.append(f"'{text}'")
    if "'''" not in text and not text.endswith("'"):
        # A line break right after the opening delimiter is trimmed: add one when it matters.
        trimmed = "\n" if text.startswith("\n") else draw(st.sampled_from(["", "\n"]))
        forms.append(f"'''{trimmed}{text}'''")
    forms.append('"""' + basic(text)[1:-1] + '"""')
    return Scalar(draw(st.sampled_from(forms)), text)


def _scalar(token: str) -> Scalar:
    return Scalar(token, token)


scalars = st.one_of(
    strings(),
    st.integers(-(2**63), 2**63 - 1).map(str).map(_scalar),
    st.integers(0, 2**31).map(hex).map(_scalar),
    st.floats(allow_nan=False, allow_infinity=False).map(repr).map(_scalar),
    st.sampled_from(["true", "false", "inf", "-nan", "1_000", "+5", "1979-05-27 07:32:00Z",
                     "07:32:00"]).map(_scalar),
)

keys = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True).map(lambda key: (key, key)),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='.\x7f'),
            max_size=5).map(lambda key: (key, basic(key))),
)


def tables(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Table]:
    entries = st.lists(st.tuples(keys, children), max_size=4, unique_by=lambda e: e[0][0])
    return st.builds(
        lambda items, inline: Table(tuple((k[0], k[1], v) for k, v in items), inline),
        entries,
        st.booleans(),
    )


def arrays(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Array]:
    return st.builds(
        lambda items, multiline, headers: Array(tuple(items), multiline, headers),
        st.lists(children, max_size=3),
        st.booleans(),
        st.booleans(),
    )


nodes = st.recursive(scalars, lambda children: arrays(children) | tables(children), max_leaves=12)
documents = tables(nodes)


def flat(path: tuple[str, ...]) -> str:
    return ".".join(path)


def inline(node: Node, path: tuple[str, ...], expected: dict[str, Scalar]) -> str:
    """Write `node` as an inline value, recording the expected token of every leaf."""
    if isinstance(node, Scalar):
        expected[flat(path)] = node
        return node.token
    if isinstance(node, Array):
        items = [inline(item, (*path, f"{i:04d}"), expected) for i, item in enumerate(node.items)]
        if node.multiline:
            return "[\n  " + ",  # item\n  ".join(items) + ",\n]" if items else "[ # empty\n]"
        return "[" + ", ".join(items) + "]"
    parts = [f"{written} = {inline(child, (*path, key), expected)}"
             for key, written, child in node.entries]
    return "{ " + ", ".join(parts) + " }"


def is_table_array(node: Node) -> bool:
    return (isinstance(node, Array) and node.as_headers and bool(node.items)
            and all(isinstance(item, Table) for item in node.items))


def dump_table(table: Table, path: tuple[str, ...], header: tuple[str, ...], lines: list[str],
               expected: dict[str, Scalar]) -> None:
    """Write a table's inline entries, then its sub-tables as [header] / [[header]] sections."""
    sections: list[tuple[str, str, Node]] = []
    for key, written, child in table.entries:
        if (isinstance(child, Table) and not child.inline) or is_table_array(child):
            sections.append((key, written, child))
        else:
            lines.append(f"{written} = {inline(child, (*path, key), expected)}  # c")
    for key, written, child in sections:
        child_header = (*header, written)
        if isinstance(child, Table):
            lines.append(f"[ {' . '.join(child_header)} ]")
            dump_table(child, (*path, key), child_header, lines, expected)
            continue
        assert isinstance(child, Array)
        for position, item in enumerate(child.items):
            assert isinstance(item, Table)
            lines.append(f"[[{'.'.join(child_header)}]]")
            dump_table(item, (*path, key, f"{position:04d}"), child_header, lines, expected)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_value_spans_hold_the_value_tokens(document: Table) -> None:
    lines: list[str] = []
    expected: dict[str, Scalar] = {}
    dump_table(document, (), (), lines, expected)
    text = "\n".join(lines) + "\n"
    config = load_toml(text)
    assert [d for d in config.diagnostics if d.code != "W003"] == []
    assert tomli_leaf_count(tomli.loads(text)) == len(expected)
    assert set(config.values) == set(expected)
    for key, scalar in expected.items():
        origin = config.origins[key]
        assert token(config, origin.value_span) == scalar.token
        assert config.values[key] == scalar.text
    assert_source_map(config)


def test_unreadable_files_are_flagged_where_they_are_read(tmp_path: Path) -> None:
    import pickle

    from engine import load_config
    from engine.errors import ConfigError

    missing = read_config_file(tmp_path / "missing.toml")
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(b'x = "\xe9"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("x = \n", encoding="utf-8")
    assert missing.unreadable and read_config_file(not_utf8).unreadable
    assert not read_config_file(broken).unreadable  # a syntax error is a finding, not E002
    with pytest.raises(ConfigError) as caught:
        load_config(not_utf8)
    assert caught.value.unreadable
    assert pickle.loads(pickle.dumps(caught.value)).unreadable
    with pytest.raises(ConfigError) as syntax:
        load_config(broken)
    assert not syntax.value.unreadable
