"""Reading test files: the records, shared defaults, and located errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing.cases import CaseFileError, read_case_file


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return name


def messages(path: str) -> list[str]:
    with pytest.raises(CaseFileError) as caught:
        read_case_file(path)
    return [str(diagnostic) for diagnostic in caught.value.diagnostics]


def test_cases_carry_their_line_defaults_and_fixtures(workdir: Path) -> None:
    path = write(workdir, "a.tlsrpt-test.toml", """\
config = "tlsrpt.toml"

[defaults]
vars = { rcpt_domain = "example.net", sender = "a@example.org" }
services = { local-domains = ["example.org"], dns = { "x.org" = { txt = "weekly" } } }

[[case]]
name = "first"
vars = { rcpt_domain = "x.org" }
expect.report.tls.aggregate.send = "weekly"
expect."report.tls.aggregate.sign" = ["rsa"]

[[case]]
services = { keys = { "hourly:y.org" = "yes" } }
fails."report.tls.aggregate.send" = "TXT"
no-value = ["report.tls.aggregate.unique-id"]
lint = ["w404", "E201"]
""")
    found = read_case_file(path)
    assert found.config == str(workdir / "tlsrpt.toml") or found.config == "tlsrpt.toml"
    first, second = found.cases
    assert (first.name, str(first.location)) == ("first", "a.tlsrpt-test.toml:7")
    # A case's vars override the defaults' one by one.
    assert dict(first.variables) == {"rcpt_domain": "x.org", "sender": "a@example.org"}
    # TOML's dotted keys and quoted keys name the same setting.
    assert [(e.key, e.expected, e.location.line) for e in first.settings] == [
        ("report.tls.aggregate.send", "weekly", 10),
        ("report.tls.aggregate.sign", ["rsa"], 11)]
    assert first.fixtures.local_domains == ("example.org",)
    assert dict(first.fixtures.dns) == {("x.org", "txt"): "weekly"}
    assert second.name == "case 2"
    # A case's fixtures of one kind replace the defaults' of that kind; other kinds stay.
    assert dict(second.fixtures.keys) == {"hourly:y.org": "yes"}
    assert second.fixtures.local_domains == ("example.org",)
    assert [(f.key, f.reason) for f in second.failures] == [("report.tls.aggregate.send", "TXT")]
    assert [e.key for e in second.no_value] == ["report.tls.aggregate.unique-id"]
    assert second.lint == ("E201", "W404")


def test_defaults_shared_between_files_through_extends(workdir: Path) -> None:
    write(workdir, "common.toml", 'config = "tlsrpt.toml"\n[defaults]\n'
                                  'vars = { rcpt_domain = "a.org", mx = "mx.a.org" }\n')
    path = write(workdir, "b.tlsrpt-test.toml", 'extends = "common.toml"\n'
                                                '[defaults]\nvars = { mx = "mx.b.org" }\n'
                                                '[[case]]\nlint = []\n')
    found = read_case_file(path)
    assert found.config is not None and Path(found.config).name == "tlsrpt.toml"
    assert dict(found.cases[0].variables) == {"rcpt_domain": "a.org", "mx": "mx.b.org"}


def test_every_problem_is_reported_at_its_place(workdir: Path) -> None:
    path = write(workdir, "bad.tlsrpt-test.toml", """\
[[case]]
name = "typos"
vars = { rcpt_domian = "x.org" }
expct = { a = 1 }
services = { dns = { "x.org" = { mxx = ["mx"] } } }

[[case]]
name = "nothing"

[[case]]
expect."report.tls.aggregate.send" = [["nested"]]
tls-aggregate = { sendd = "daily" }
""")
    assert messages(path) == [
        "bad.tlsrpt-test.toml:1:1: error[T104] case `typos` expects nothing (help: give "
        "`expect`, `tls-aggregate`, `fails`, `no-value` or `lint`)",
        "bad.tlsrpt-test.toml:3:10: error[T103] unknown variable `rcpt_domian` (did you mean "
        "rcpt_domain?) (help: variables are Stalwart's (rcpt_domain, sender, mx, ...); globals "
        "are written $NAME)",
        "bad.tlsrpt-test.toml:4:1: error[T101] unknown key `expct` (did you mean expect?) "
        "(help: allowed here: name, vars, services, expect, tls-aggregate, fails, no-value, lint)",
        "bad.tlsrpt-test.toml:5:34: error[T101] unknown DNS record type `mxx` (did you mean mx?) "
        "(help: types: ip, ipv4, ipv6, mx, txt, ptr)",
        "bad.tlsrpt-test.toml:7:1: error[T104] case `nothing` expects nothing (help: give "
        "`expect`, `tls-aggregate`, `fails`, `no-value` or `lint`)",
        "bad.tlsrpt-test.toml:11:1: error[T102] expect `report.tls.aggregate.send`:"
        " expected a string, number, boolean or array of those",
        "bad.tlsrpt-test.toml:12:1: error[T102] `tls-aggregate` needs a `domain` (a string), or "
        "`rcpt_domain` in the case's vars",
        "bad.tlsrpt-test.toml:12:19: error[T101] unknown key `sendd` (did you mean send?) "
        "(help: allowed here: domain, fallbacks, from-name, from-address, org-name, "
        "contact-info, send, max-size, sign)",
    ]


def test_bad_toml_and_missing_cases_are_located(workdir: Path) -> None:
    assert messages(write(workdir, "syntax.tlsrpt-test.toml", "[[case]]\nname = \n")) == [
        "syntax.tlsrpt-test.toml:2:8: error[E001] Invalid value"]
    assert messages(write(workdir, "empty.tlsrpt-test.toml", 'config = "x"\n')) == [
        "empty.tlsrpt-test.toml: error[T106] the file has no [[case]]"]
    assert messages(write(workdir, "ext.tlsrpt-test.toml",
                          'extends = "missing.toml"\n[[case]]\nlint = []\n')) == [
        "ext.tlsrpt-test.toml:1:1: error[T105] `extends`: cannot read missing.toml"]


def test_an_extends_cycle_stops(workdir: Path) -> None:
    write(workdir, "loop.toml", 'extends = "loop.toml"\n')
    path = write(workdir, "c.tlsrpt-test.toml", 'extends = "loop.toml"\n[[case]]\nlint = []\n')
    assert any("more than 8 files deep" in message for message in messages(path))
