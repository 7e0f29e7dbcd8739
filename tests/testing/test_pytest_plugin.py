"""The pytest plugin (registered through the `pytest11` entry point): it collects
*.tlsrpt-test.toml files, one item per case, and shows failures as `tlsrpt test` does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tomli

from tests.testing.conftest import CONFIG

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", tlsrpt=CONFIG)
    return pytester


def test_cases_pass_beside_python_tests(project: pytest.Pytester) -> None:
    project.makefile(".tlsrpt-test.toml", domains='''\
config = "tlsrpt.toml"

[[case]]
name = "tiny"
vars = { rcpt_domain = "tiny.example" }
expect."report.tls.aggregate.max-size" = 65536

[[case]]
name = "local"
vars = { rcpt_domain = "example.org" }
services = { local-domains = ["example.org"] }
expect."report.tls.aggregate.send" = "never"
''')
    project.makepyfile(test_python="def test_python():\n    assert True\n")
    project.makefile(".toml", other="x = 1\n")  # not a test file: not collected
    result = project.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*domains.tlsrpt-test.toml::tiny PASSED*",
                                 "*domains.tlsrpt-test.toml::local PASSED*"])


def test_a_failing_case_shows_the_readable_failure(project: pytest.Pytester) -> None:
    project.makefile(".tlsrpt-test.toml", wrong='''\
config = "tlsrpt.toml"

[[case]]
name = "small domains get 64 KiB"
vars = { rcpt_domain = "small.example" }
expect."report.tls.aggregate.max-size" = 65536
''')
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tlsrpt case: small domains get 64 KiB*",
        "FAILED small domains get 64 KiB (wrong.tlsrpt-test.toml:3)",
        '  context:  rcpt_domain = "small.example"',
        "  setting:  report.tls.aggregate.max-size (wrong.tlsrpt-test.toml:6)",
        "  expected: 65536",
        "  actual:   1048576 (size)",
        "  rule:     rule 1 (tlsrpt.toml:15:7)",
    ])
    assert "Traceback" not in result.stdout.str()


def test_bad_files_are_collection_errors_with_their_place(project: pytest.Pytester) -> None:
    project.makefile(".tlsrpt-test.toml", typo='config = "tlsrpt.toml"\n[[case]]\n'
                                               'vars = { rcpt_domian = "a" }\nlint = []\n')
    project.makefile(".tlsrpt-test.toml", unnamed='[[case]]\nlint = []\n')
    result = project.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines_random([
        "*unknown variable `rcpt_domian` (did you mean rcpt_domain?)*",
        "*does not say which configuration it tests*",
    ])


def test_the_project_collects_the_examples(pytester: pytest.Pytester) -> None:
    """testpaths includes examples/: their cases run (and pass) in the project's own suite."""
    with open(EXAMPLES.parent / "pyproject.toml", "rb") as handle:
        assert "examples" in tomli.load(handle)["tool"]["pytest"]["ini_options"]["testpaths"]
    for path in EXAMPLES.glob("*.toml"):
        shutil.copy(path, pytester.path / path.name)
    (pytester.path / "keys").symlink_to(EXAMPLES / "keys")
    result = pytester.runpytest("--collect-only", "-q")
    collected = [line for line in result.outlines if ".tlsrpt-test.toml::" in line]
    assert len(collected) >= 10
    result = pytester.runpytest()
    result.assert_outcomes(passed=len(collected))
