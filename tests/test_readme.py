"""The README's two commands, `.ci/run`, `.ci/install-test-servers` and the one version string."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import engine
from engine._version import __version__
from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    """The indented command lines of the README's quick start."""
    start = README.index("## Quick start")
    end = README.index("## ", start + 3)
    return [line.strip() for line in README[start:end].splitlines() if line.startswith("    ")]


def test_the_quick_start_has_two_commands_that_make_their_own_virtual_environment() -> None:
    first, second = _commands()
    # PEP 668: a stock Debian/Ubuntu Python refuses `pip install` outside a virtual environment,
    # and has no `python` command: every step runs through .venv/bin.
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert second == ("sh .ci/install-test-servers && python3 -m venv --clear .venv && "
                      ".venv/bin/python -m pip install -e '.[test]' && "
                      ".venv/bin/python -m pytest")
    for command in (first, second):
        for step in command.split(" && "):
            program = shlex.split(step)[0]
            assert program in ("python3", "sh") or program.startswith(".venv/bin/"), step


def test_ci_runs_exactly_the_second_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert lines[-1] == _commands()[1]


def test_the_first_command_records_and_reports(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The `tlsrpt` steps of the first command, run as written from the top folder (the
    install step is what the virtual environment of this test run already did)."""
    steps = _commands()[0].split(" && ")[2:]
    monkeypatch.chdir(ROOT)
    for step in steps:
        argv = shlex.split(step)
        assert argv[0] == ".venv/bin/tlsrpt"
        # the files it writes go to a temporary folder, not the checkout
        argv = [str(tmp_path / a) if a in ("tlsrpt.db", "out") else a for a in argv[1:]]
        assert main(argv) == 0, step
    assert capsys.readouterr().out.strip()
    assert list((tmp_path / "out").glob("*.eml"))


def _fake_bin(tmp_path: Path, uid: int, installed: bool) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    status = "install ok installed" if installed else "unknown ok not-installed"
    (folder / "dpkg-query").write_text(f"#!/bin/sh\nprintf '{status}'\n")
    (folder / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/apt.log\n")
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def _installer(tmp_path: Path, packages: str) -> Path:
    text = (ROOT / ".ci" / "install-test-servers").read_text(encoding="utf-8")
    assert 'TEST_SERVER_PACKAGES=""' in text  # the list others extend; empty today
    script = tmp_path / "install"
    script.write_text(text.replace('TEST_SERVER_PACKAGES=""', f'TEST_SERVER_PACKAGES="{packages}"'))
    return script


def _run(script: Path, fake_bin: Path) -> subprocess.CompletedProcess[str]:
    # only the fake tools and the base system: no sudo
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(fake_bin)}
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          check=False, timeout=60)


def test_the_installer_does_nothing_today() -> None:
    done = subprocess.run(["sh", str(ROOT / ".ci" / "install-test-servers")],
                          capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_installer_installs_only_missing_packages_as_root(tmp_path: Path) -> None:
    done = _run(_installer(tmp_path, "postgresql dovecot-imapd"), _fake_bin(tmp_path, 0, False))
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "apt.log").read_text().splitlines()
    assert log[0] == "update -q"
    assert log[1].startswith("install -q -y --no-install-recommends")
    assert log[1].split()[-2:] == ["postgresql", "dovecot-imapd"]


def test_the_installer_skips_installed_packages(tmp_path: Path) -> None:
    done = _run(_installer(tmp_path, "postgresql"), _fake_bin(tmp_path, 0, True))
    assert done.returncode == 0
    assert not (tmp_path / "apt.log").exists()


def test_the_installer_needs_root_for_missing_packages(tmp_path: Path) -> None:
    done = _run(_installer(tmp_path, "postgresql"), _fake_bin(tmp_path, 1000, False))
    assert done.returncode == 1
    assert "needs root" in done.stderr and "postgresql" in done.stderr
    assert not (tmp_path / "apt.log").exists()


def test_one_version_string(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "engine/_version.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert engine.__version__ == __version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tlsrpt {__version__}\n"
    numbers = [path for path in ROOT.joinpath("engine").rglob("*.py")
               if f'"{__version__}"' in path.read_text(encoding="utf-8")]
    assert [path.name for path in numbers] == ["_version.py"]


def test_version_of_the_installed_command() -> None:
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "tlsrpt"),
                           "--version"], capture_output=True, text=True, check=False,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, f"tlsrpt {__version__}\n")
