"""pytest plugin (entry point `pytest11`, name `tlsrpt`): collects `*.tlsrpt-test.toml` files
so that `pytest` runs configuration test cases beside Python tests, one item per case.

Each file names its configuration (`config = "tlsrpt.toml"`, relative to the file). A bad
test file or configuration is a collection error that shows the located diagnostics; a failing
case shows the same text as `tlsrpt test`. pytest loads this module in every session of a
project that installs the package, so engine modules are imported only when a file is
collected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from engine.config.config import Config
    from engine.testing.cases import Case
    from engine.testing.run import CaseResult, Runner


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from engine.testing.cases import is_test_file

    if is_test_file(file_path):
        return ConfigTestFile.from_parent(parent, path=file_path)
    return None


class CaseFailed(Exception):
    """A case did not pass; carries its result for `repr_failure`."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.case.name)
        self.result = result


def _render(error: Any) -> str:
    from engine.diagnostics.render_text import render_text

    sources: dict[str | None, str] = {}
    for diagnostic in error.diagnostics:
        if diagnostic.file and diagnostic.file not in sources:
            try:
                sources[diagnostic.file] = Path(diagnostic.file).read_text(
                    encoding="utf-8", errors="replace")
            except OSError:
                pass  # the diagnostics are shown without their source lines
    return render_text(error.diagnostics, sources, color=False)


def _shown_path(path: Path) -> str:
    """The path as people read it in failures: relative to where pytest runs, if below it."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


class ConfigTestFile(pytest.File):
    """A `*.tlsrpt-test.toml` file: its cases, run against the configuration it names."""

    def collect(self) -> Iterator[pytest.Item]:
        from engine.config.config import load_config
        from engine.errors import ConfigError
        from engine.testing.cases import read_case_file
        from engine.testing.run import Runner

        try:
            case_file = read_case_file(_shown_path(self.path))
        except ConfigError as err:
            raise self.CollectError(_render(err)) from None
        if case_file.config is None:
            raise self.CollectError(
                f"{self.path}: the file does not say which configuration it tests; add "
                "`config = \"<file>\"` (relative to the test file) at the top")
        if not Path(case_file.config).is_file():
            raise self.CollectError(f"{self.path}: config {case_file.config}: no such file")
        try:
            config: Config = load_config(Path(case_file.config))
        except ConfigError as err:
            raise self.CollectError(_render(err)) from None
        runner = Runner(config)
        seen: dict[str, int] = {}
        for case in case_file.cases:
            # pytest node ids must be unique within the file.
            count = seen[case.name] = seen.get(case.name, 0) + 1
            name = case.name if count == 1 else f"{case.name} [{count}]"
            yield ConfigTestCase.from_parent(self, name=name, case=case, runner=runner)


class ConfigTestCase(pytest.Item):
    """One case of a test file."""

    def __init__(self, *, case: Case, runner: Runner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.runner = runner

    def runtest(self) -> None:
        result = self.runner.run(self.case)
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            from engine.testing.render import format_failure

            return format_failure(excinfo.value.result).rstrip("\n")
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.location.line - 1, f"tlsrpt case: {self.case.name}"
