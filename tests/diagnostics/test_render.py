"""engine.diagnostics.render*: the machine renderers (json, github, sarif) and the dispatcher.

Snapshots are exact: a change of output is a change of a documented format, and shows here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
from engine.errors import Diagnostic, Severity, Span
from engine.diagnostics.catalogue import RULES
from engine.diagnostics.render import FORMATS, render
from engine.diagnostics.render_github import escape_data, escape_property, render_github
from engine.diagnostics.render_json import end_location, render_json
from engine.diagnostics.render_sarif import file_uri, render_sarif, to_sarif
from engine.diagnostics.render_text import render_text

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

CONFIG = (
    'from-name = "TLS Report"\n'
    'send = """\n'
    "rcpt_domain ==\n"
    '  x"""\n'
    "max-size = 10\n"
)
INLINE = "true || retry_num > 1"
SOURCES: dict[str | None, str] = {"report.toml": CONFIG, None: INLINE}


def span_of(text: str, token: str) -> Span:
    start = text.index(token)
    return Span.in_text(text, start, start + len(token))


UNQUOTED = Diagnostic(  # a suggestion, a key and help
    "E105", Severity.ERROR, "unquoted text `TLS Report`", span_of(CONFIG, "TLS Report"),
    file="report.toml", key="report.tls.aggregate.from-name",
    help="quote the text inside the string", suggestion="'TLS Report'")
MULTILINE = Diagnostic(  # a span over two lines; `%`, `:`, `,` and a newline in the message
    "E101", Severity.ERROR, "expected a value: 100% of rules, at most\none per line",
    span_of(CONFIG, "rcpt_domain ==\n  x"), file="report.toml", key="report.tls.aggregate.send")
UNKNOWN_KEY = Diagnostic(  # a warning with help and a note
    "W404", Severity.WARNING, "unknown setting `max-size`", span_of(CONFIG, "max-size"),
    file="report.toml", key="report.tls.aggregate.max-size",
    help="did you mean `max-report-size`?",
    notes=("settings are listed in docs/configuration.md",))
NO_SPAN = Diagnostic(
    "E010", Severity.ERROR, "environment variable `DKIM_KEY` is not set",
    file="report.toml", key="signature.rsa.private-key")
INLINE_INFO = Diagnostic(  # no file (text given directly), info, an empty suggestion: delete
    "W303", Severity.INFO, "condition is always true", span_of(INLINE, "true"), suggestion="")
NO_SOURCE = Diagnostic(  # its file is not in SOURCES, and its name needs escaping
    "E201", Severity.ERROR, "unknown name `rcpt`", Span(4, 8, line=2, column=5),
    file="dir, with:colon/extra.toml")

DIAGNOSTICS = [UNQUOTED, MULTILINE, UNKNOWN_KEY, NO_SPAN, INLINE_INFO, NO_SOURCE]


# -- json


JSON_SNAPSHOT = """\
[
  {
    "code": "E105",
    "name": "unquoted-text",
    "severity": "error",
    "message": "unquoted text `TLS Report`",
    "filename": "report.toml",
    "key": "report.tls.aggregate.from-name",
    "location": {
      "row": 1,
      "column": 14
    },
    "end_location": {
      "row": 1,
      "column": 24
    },
    "help": "quote the text inside the string",
    "fix": {
      "message": "replace with `'TLS Report'`",
      "edits": [
        {
          "content": "'TLS Report'",
          "location": {
            "row": 1,
            "column": 14
          },
          "end_location": {
            "row": 1,
            "column": 24
          }
        }
      ]
    },
    "url": "docs/lint.md#e105-unquoted-text",
    "notes": []
  },
  {
    "code": "E101",
    "name": "expression-syntax",
    "severity": "error",
    "message": "expected a value: 100% of rules, at most\\none per line",
    "filename": "report.toml",
    "key": "report.tls.aggregate.send",
    "location": {
      "row": 3,
      "column": 1
    },
    "end_location": {
      "row": 4,
      "column": 4
    },
    "help": null,
    "fix": null,
    "url": "docs/lint.md#e101-expression-syntax",
    "notes": []
  },
  {
    "code": "W404",
    "name": "unknown-setting",
    "severity": "warning",
    "message": "unknown setting `max-size`",
    "filename": "report.toml",
    "key": "report.tls.aggregate.max-size",
    "location": {
      "row": 5,
      "column": 1
    },
    "end_location": {
      "row": 5,
      "column": 9
    },
    "help": "did you mean `max-report-size`?",
    "fix": null,
    "url": "docs/lint.md#w404-unknown-setting",
    "notes": [
      "settings are listed in docs/configuration.md"
    ]
  },
  {
    "code": "E010",
    "name": "macro-env-missing",
    "severity": "error",
    "message": "environment variable `DKIM_KEY` is not set",
    "filename": "report.toml",
    "key": "signature.rsa.private-key",
    "location": null,
    "end_location": null,
    "help": null,
    "fix": null,
    "url": "docs/lint.md#e010-macro-env-missing",
    "notes": []
  },
  {
    "code": "W303",
    "name": "constant-condition",
    "severity": "info",
    "message": "condition is always true",
    "filename": null,
    "key": null,
    "location": {
      "row": 1,
      "column": 1
    },
    "end_location": {
      "row": 1,
      "column": 5
    },
    "help": null,
    "fix": {
      "message": "remove",
      "edits": [
        {
          "content": "",
          "location": {
            "row": 1,
            "column": 1
          },
          "end_location": {
            "row": 1,
            "column": 5
          }
        }
      ]
    },
    "url": "docs/lint.md#w303-constant-condition",
    "notes": []
  },
  {
    "code": "E201",
    "name": "unknown-name",
    "severity": "error",
    "message": "unknown name `rcpt`",
    "filename": "dir, with:colon/extra.toml",
    "key": null,
    "location": {
      "row": 2,
      "column": 5
    },
    "end_location": {
      "row": 2,
      "column": 9
    },
    "help": null,
    "fix": null,
    "url": "docs/lint.md#e201-unknown-name",
    "notes": []
  }
]
"""


def test_json_snapshot() -> None:
    assert render_json(DIAGNOSTICS, SOURCES) == JSON_SNAPSHOT


def test_json_empty() -> None:
    assert render_json([], SOURCES) == "[]\n"


def test_json_unknown_code_has_no_name() -> None:
    [item] = json.loads(render_json([Diagnostic("X999", Severity.ERROR, "m")], {}))
    assert item["name"] is None
    assert item["url"] == "docs/lint.md#x999"


def test_json_keeps_non_ascii() -> None:
    text = "from-name = \"Équipe\"\n"
    diagnostic = Diagnostic("W403", Severity.WARNING, "« Équipe »", span_of(text, "Équipe"),
                            file="f.toml")
    output = render_json([diagnostic], {"f.toml": text})
    assert "« Équipe »" in output
    [item] = json.loads(output)
    assert item["location"] == {"row": 1, "column": 14}
    assert item["end_location"] == {"row": 1, "column": 20}


def test_every_url_names_its_rule() -> None:
    for code, rule in RULES.items():
        [item] = json.loads(render_json([Diagnostic(code, rule.severity, "m")], {}))
        assert item["url"] == f"docs/lint.md#{code.lower()}-{rule.name}"


# -- positions


def test_end_location_without_source_stays_on_the_start_line() -> None:
    assert end_location(Span(10, 14, line=3, column=7), None) == (3, 11)


def test_end_location_just_after_a_newline_is_the_next_line() -> None:
    assert end_location(Span.in_text("ab\ncd", 0, 3), "ab\ncd") == (2, 1)


@given(st.text(alphabet="ab\n\t\r é", max_size=40), st.data())
def test_end_location_agrees_with_span_in_text(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    span = Span.in_text(text, start, end)
    after = Span.in_text(text, end)
    assert end_location(span, text) == (after.line, after.column)
    if "\n" not in text[start:end]:
        assert end_location(span, None) == end_location(span, text)


# -- github


GITHUB_SNAPSHOT = (
    "::error title=E105 unquoted-text,file=report.toml,line=1,col=14,endLine=1,endColumn=24"
    "::unquoted text `TLS Report`%0Ahelp: quote the text inside the string\n"
    "::error title=E101 expression-syntax,file=report.toml,line=3,col=1,endLine=4,endColumn=4"
    "::expected a value: 100%25 of rules, at most%0Aone per line\n"
    "::warning title=W404 unknown-setting,file=report.toml,line=5,col=1,endLine=5,endColumn=9"
    "::unknown setting `max-size`%0Ahelp: did you mean `max-report-size`?\n"
    "::error title=E010 macro-env-missing,file=report.toml"
    "::environment variable `DKIM_KEY` is not set\n"
    "::notice title=W303 constant-condition,line=1,col=1,endLine=1,endColumn=5"
    "::condition is always true\n"
    "::error title=E201 unknown-name,file=dir%2C with%3Acolon/extra.toml,line=2,col=5,"
    "endLine=2,endColumn=9::unknown name `rcpt`\n"
)


def test_github_snapshot() -> None:
    assert render_github(DIAGNOSTICS, SOURCES) == GITHUB_SNAPSHOT


def test_github_one_line_per_diagnostic() -> None:
    lines = render_github(DIAGNOSTICS, SOURCES).splitlines()
    assert len(lines) == len(DIAGNOSTICS)
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)


def test_github_escaping() -> None:
    assert escape_data("a%b\r\nc: d, e") == "a%25b%0D%0Ac: d, e"
    assert escape_property("a%b\r\nc: d, e") == "a%25b%0D%0Ac%3A d%2C e"
    # `%` first, so the escapes themselves are not escaped again.
    assert escape_data("%0A") == "%250A"


def test_github_empty() -> None:
    assert render_github([], SOURCES) == ""


# -- sarif


SARIF_SNAPSHOT = """\
{
  "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
  "version": "2.1.0",
  "runs": [
    {
      "tool": {
        "driver": {
          "name": "tlsrpt-lint",
          "informationUri": "https://pypi.org/project/tlsrpt-engine/",
          "version": "%(version)s",
          "rules": [
            {
              "id": "E010",
              "name": "macro-env-missing",
              "shortDescription": {
                "text": "`%%{env:NAME}%%` names an unset environment variable"
              },
              "fullDescription": {
                "text": "The macro is replaced by nothing, so the setting silently loses part of its value."
              },
              "help": {
                "text": "Set the variable in the environment of the service, or remove the macro."
              },
              "defaultConfiguration": {
                "level": "error"
              }
            },
            {
              "id": "E105",
              "name": "unquoted-text",
              "shortDescription": {
                "text": "text written without its inner quotes"
              },
              "fullDescription": {
                "text": "`from-name = \\"TLS Report\\"` is the expression `TLS Report`: two unknown names."
              },
              "help": {
                "text": "Quote the text inside the TOML string: `from-name = \\"'TLS Report'\\"`."
              },
              "defaultConfiguration": {
                "level": "error"
              }
            }
          ]
        }
      },
      "columnKind": "unicodeCodePoints",
      "results": [
        {
          "ruleId": "E105",
          "ruleIndex": 1,
          "level": "error",
          "message": {
            "text": "unquoted text `TLS Report`"
          },
          "locations": [
            {
              "physicalLocation": {
                "artifactLocation": {
                  "uri": "report.toml"
                },
                "region": {
                  "startLine": 1,
                  "startColumn": 14,
                  "endLine": 1,
                  "endColumn": 24
                }
              }
            }
          ],
          "fixes": [
            {
              "description": {
                "text": "replace with `'TLS Report'`"
              },
              "artifactChanges": [
                {
                  "artifactLocation": {
                    "uri": "report.toml"
                  },
                  "replacements": [
                    {
                      "deletedRegion": {
                        "startLine": 1,
                        "startColumn": 14,
                        "endLine": 1,
                        "endColumn": 24
                      },
                      "insertedContent": {
                        "text": "'TLS Report'"
                      }
                    }
                  ]
                }
              ]
            }
          ],
          "properties": {
            "key": "report.tls.aggregate.from-name",
            "help": "quote the text inside the string"
          }
        },
        {
          "ruleId": "E010",
          "ruleIndex": 0,
          "level": "error",
          "message": {
            "text": "environment variable `DKIM_KEY` is not set"
          },
          "locations": [
            {
              "physicalLocation": {
                "artifactLocation": {
                  "uri": "report.toml"
                }
              }
            }
          ],
          "properties": {
            "key": "signature.rsa.private-key"
          }
        }
      ]
    }
  ]
}
""" % {"version": engine.__version__}


def test_sarif_snapshot() -> None:
    assert render_sarif([UNQUOTED, NO_SPAN], SOURCES) == SARIF_SNAPSHOT


def test_sarif_results_and_rules() -> None:
    log = to_sarif(DIAGNOSTICS, SOURCES)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [rule["id"] for rule in rules] == ["E010", "E101", "E105", "E201", "W303", "W404"]
    assert [r["ruleId"] for r in results] == [d.code for d in DIAGNOSTICS]
    assert [r["level"] for r in results] == ["error", "error", "warning", "error", "note",
                                             "error"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert results[1]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3, "startColumn": 1, "endLine": 4, "endColumn": 4}
    assert results[1]["message"]["text"] == MULTILINE.message
    # Text given directly has no file: a region but no URI.
    assert results[4]["locations"][0]["physicalLocation"]["artifactLocation"] == {}
    assert results[4]["fixes"][0]["artifactChanges"][0]["replacements"][0][
        "insertedContent"] == {"text": ""}
    assert results[5]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "dir%2C%20with%3Acolon/extra.toml"}
    assert "fixes" not in results[1]


def test_sarif_without_location_or_rule() -> None:
    log = to_sarif([Diagnostic("X999", Severity.WARNING, "m")], {})
    [run] = log["runs"]
    assert run["tool"]["driver"]["rules"] == []
    assert run["results"] == [{"ruleId": "X999", "level": "warning", "message": {"text": "m"},
                               "locations": []}]


def test_sarif_empty() -> None:
    [run] = to_sarif([], {})["runs"]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []


@pytest.mark.parametrize(("path", "uri"), [
    ("report.toml", "report.toml"),
    ("conf/a b.toml", "conf/a%20b.toml"),
    ("/etc/tlsrpt/report.toml", "file:///etc/tlsrpt/report.toml"),
    ("C:\\conf\\report.toml", "file:///C:/conf/report.toml"),
    ("conf\\report.toml", "conf/report.toml"),
])
def test_file_uri(path: str, uri: str) -> None:
    assert file_uri(path) == uri


def _sarif_validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # The OASIS schema is draft-04.
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema,
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("diagnostics", [
    DIAGNOSTICS, [], [Diagnostic("X999", Severity.INFO, "m")],
], ids=["all", "empty", "unknown-code"])
def test_sarif_is_valid_against_the_oasis_schema(diagnostics: list[Diagnostic]) -> None:
    validator = _sarif_validator()
    log = json.loads(render_sarif(diagnostics, SOURCES))
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_bad_log() -> None:
    """Guards the test above: an invalid log must fail, so the schema really is applied."""
    validator = _sarif_validator()
    log = to_sarif([UNQUOTED], SOURCES)
    region = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    region["startLine"] = 0
    log["runs"][0]["results"][0]["level"] = "info"
    assert len(list(validator.iter_errors(log))) >= 2


# -- dispatch


def test_formats() -> None:
    assert FORMATS == ("text", "json", "github", "sarif")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_dispatches(fmt: str) -> None:
    expected = {
        "text": render_text(DIAGNOSTICS, SOURCES),
        "json": render_json(DIAGNOSTICS, SOURCES),
        "github": render_github(DIAGNOSTICS, SOURCES),
        "sarif": render_sarif(DIAGNOSTICS, SOURCES),
    }[fmt]
    assert render(fmt, DIAGNOSTICS, SOURCES) == expected


def test_render_colour_is_for_text_only() -> None:
    assert render("text", DIAGNOSTICS, SOURCES, color=True) == render_text(
        DIAGNOSTICS, SOURCES, color=True)
    for fmt in ("json", "github", "sarif"):
        assert "\x1b[" not in render(fmt, DIAGNOSTICS, SOURCES, color=True)


def test_render_accepts_a_one_shot_iterable() -> None:
    assert render("sarif", iter(DIAGNOSTICS), SOURCES) == render_sarif(DIAGNOSTICS, SOURCES)


def test_render_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render("xml", DIAGNOSTICS, SOURCES)
