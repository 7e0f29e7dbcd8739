"""Stalwart's own TOML reader: each construct it reads unlike standard TOML, from the syntax."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli

from engine.config.stalwart_toml import StalwartReadError, read_stalwart

VECTORS = Path(__file__).resolve().parents[1] / "conformance" / "if_blocks.toml"


@pytest.mark.parametrize(("text", "values"), [
    # 1. an unknown escape: the backslash is dropped; \t \n \r are control characters
    ('re = "^a\\.c$"\n', {"re": "^a.c$"}),
    ('e = "\\u00e9\\t"\n', {"e": "u00e9\t"}),
    ('q = "say \\"hi\\""\n', {"q": 'say "hi"'}),
    # the escaped-backslash quirk: the character after `\\` is still escaped
    ('k = "\\\\n"\n', {"k": "\\\n"}),
    # '...' processes escapes too
    ("k = '\\d+'\n", {"k": "d+"}),
    # 2. a quoted string spanning lines keeps its line break; carriage returns are dropped
    ("key = '-----BEGIN\r\nMIIE\n-----END'\n", {"key": "-----BEGIN\nMIIE\n-----END"}),
    # 3. sets
    ('[server]\nallowed-ip = { "10.0.0.1", "::1" }\n',
     {"server.allowed-ip.10.0.0.1": "", "server.allowed-ip.::1": ""}),
    ("s = { 1 }\n", {"s.1": ""}),
    # 4. a [table] header written twice
    ("[t]\na = 1\n[u]\nx = 0\n[t]\nb = 2\n", {"t.a": "1", "u.x": "0", "t.b": "2"}),
    # 5. bare words, at the top and inside arrays
    ("send = never\np = [1s, 2m]\n", {"send": "never", "p.0000": "1s", "p.0001": "2m"}),
    ("n = 1e3\nh = 0x1F\nd = 1979-05-27\n", {"n": "1e3", "h": "0x1F", "d": "1979-05-27"}),
    # triple quotes are raw; a line break right after the opening is removed
    ('k = """\na\\.b"""\n', {"k": "a\\.b"}),
    ("k = '''\nraw\\d'''\n", {"k": "raw\\d"}),
    # [[a]] positions restart after another array of tables: keys merge into a.0000
    ("[[a]]\nk = 1\n[[b]]\n[[a]]\nj = 2\n", {"a.0000.k": "1", "a.0000.j": "2"}),
    ("[[a]]\nk = 1\n[[a]]\n[[a]]\nk = 3\n", {"a.0000.k": "1", "a.0002.k": "3"}),
    # table names are lower-cased except their first character; quoted parts are kept
    ('[Report.TLS]\n[signature."RSA.1"]\nx = 1\n', {"signature.RSA.1.x": "1"}),
    ("[Report.TLS]\nx = 1\n", {"Report.tls.x": "1"}),
    # a key and keys below it coexist; spaces in keys are ignored; text after a header too
    ('key = "a"\nkey.0.if = "true"\n', {"key": "a", "key.0.if": "true"}),
    ("a b = 1\n", {"ab": "1"}),
    ("[t] ignored = 1\nx = 2\n", {"t.x": "2"}),
    # arrays and inline tables
    ("a = [ [1, 2], { k = v }, ]\n", {"a.0000.0000": "1", "a.0000.0001": "2",
                                     "a.0001.k": "v"}),
    ("a = []\nb = 1 # c\n", {"b": "1"}),
    ("x = 1 # no final newline after a comment", {"x": "1"}),
])
def test_values_as_stalwart_reads_them(text: str, values: dict[str, str]) -> None:
    assert read_stalwart(text).values == values


@pytest.mark.parametrize(("text", "message", "pos"), [
    ("key = 1", "Unexpected EOF", 7),
    ("x = 262_144_000\n", "Expected '\\n' but found '_'", 7),
    ("[[a]]\nk = 1\n[[b]]\n[[a]]\nk = 2\n", "Duplicate key 'a.0000.k'", 28),
    ('a = "x\\\\"\nother = "y"\n', "Expected '\\n' but found 'y'", 19),
    ("'k' = 1\n", "Unexpected character \"'\"", 0),
    ("_k = 1\n", "Unexpected character '_'", 0),
    ("t = 07:32:00\n", "Expected '\\n' but found ':'", 6),
    ("e = {}\n", "Empty key", 5),
    ("x = " + "[" * 10 + "]" * 10 + "\n", "Too many nested structures", 14),
    ('"a.b" = 1\na.b = 2\n', "Duplicate key 'a.b'", 16),
])
def test_what_stalwart_refuses(text: str, message: str, pos: int) -> None:
    with pytest.raises(StalwartReadError) as caught:
        read_stalwart(text)
    assert (caught.value.message, caught.value.pos) == (message, pos)


def test_entries_locate_each_value() -> None:
    text = "[t]\nk = 'v'\ns = { a, b }\n"
    reading = read_stalwart(text)
    assert [(e.key, text[e.start:e.end]) for e in reading.entries] == [
        ("t.k", "'v'"), ("t.s.a", "a"), ("t.s.b", "b")]


def _reader_vectors() -> list[dict[str, object]]:
    cases = tomli.loads(VECTORS.read_text(encoding="utf-8"))["case"]
    return [case for case in cases if "stalwart-reader" in case.get("tags", [])]


@pytest.mark.parametrize("case", _reader_vectors(), ids=lambda case: str(case["id"]))
def test_reader_vectors(case: dict[str, object]) -> None:
    """The vectors that depend on Stalwart's reader: refused exactly where it refuses."""
    text = str(case["toml"])
    key = str(case["key"])
    if case.get("error") == "config":
        with pytest.raises(StalwartReadError):
            read_stalwart(text)
    else:
        assert any(flat == key or flat.startswith(key + ".") for flat in read_stalwart(text).values)


def test_load_config_reads_as_stalwart_when_asked() -> None:
    import engine
    from engine.config.load import load_stalwart_toml

    text = ('[report.tls.aggregate]\nmax-size = [{ if = "matches(\'^a\\.c$\', rcpt_domain)", '
            'then = 1000 }, { else = 2000 }]\n')
    config = engine.load_config(text, stalwart_reader=True)
    assert config.resolve("report.tls.aggregate.max-size", {"rcpt_domain": "abc"}) == 1000
    with pytest.raises(engine.ConfigError):
        engine.load_config(text)  # `\.` is not a TOML escape
    flat = load_stalwart_toml(text, "c.toml")
    (warning,) = flat.diagnostics
    assert (warning.code, warning.key, warning.span and warning.span.line) == (
        "W020", "report.tls.aggregate.max-size.0000.if", 2)
    refused = load_stalwart_toml("key = 1", "c.toml")
    assert [(d.code, d.location()) for d in refused.diagnostics] == [("E020", "c.toml:1:8")]
    assert refused.values == {}


def test_a_file_both_readers_agree_on_keeps_the_standard_source_map() -> None:
    from engine.config.load import load_stalwart_toml, load_toml

    text = "[report]\nsend = 'daily' # c\nports = [25, 0x1F]\n"
    assert load_stalwart_toml(text) == load_toml(text)
