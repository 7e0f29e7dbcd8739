"""examples/systemd/*.service: systemd accepts them (`systemd-analyze verify`, with its
output empty: it exits 0 even on unknown keys and bad values), each ExecStart parses with
tlsrpt's own argument parser, and the hardening and paths agree with the configuration that
docs/postfix.md shows (the store's and the socket's folders writable, the socket's group)."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "examples" / "systemd").glob("*.service"))
COMMANDS = {"tlsrpt-collect.service": "collect", "tlsrpt-serve.service": "serve"}
INSTALLED = "/usr/local/bin/tlsrpt"


def _settings(unit: Path) -> dict[str, list[str]]:
    """Key -> every value it is given (systemd allows repeats), over all sections."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _guide_config() -> dict[str, object]:
    text = (ROOT / "docs" / "postfix.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    return tomllib.loads(block.group(1))


def test_every_unit_is_here() -> None:
    assert [unit.name for unit in UNITS] == sorted(COMMANDS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_exec_start_parses_with_the_cli_parser(unit: Path) -> None:
    (line,) = _settings(unit)["ExecStart"]
    argv = shlex.split(line.lstrip("+-@!:"))
    assert argv[0] == INSTALLED
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as exit_:  # argparse's way of refusing a command line
        raise AssertionError(f"{unit.name}: ExecStart does not parse: {line}") from exit_
    assert isinstance(args, argparse.Namespace)
    assert args.command == COMMANDS[unit.name]
    assert args.config_option == "/etc/tlsrpt/tlsrpt.toml"


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_hardening(unit: Path) -> None:
    settings = _settings(unit)
    for key, value in {"User": "tlsrpt", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
                       "StateDirectory": "tlsrpt"}.items():
        assert settings.get(key) == [value], (unit.name, key)
    writable = " ".join(settings["ReadWritePaths"]).split()
    report = _guide_config()["report"]
    assert isinstance(report, dict)
    assert str(Path(report["store"]["path"]).parent) in writable


def test_the_collector_can_give_the_socket_to_postfix() -> None:
    settings = _settings(ROOT / "examples" / "systemd" / "tlsrpt-collect.service")
    collector = _guide_config()["collector"]
    assert isinstance(collector, dict)
    socket_folder = str(Path(collector["socket"]).parent)
    assert socket_folder in " ".join(settings["ReadWritePaths"]).split()
    assert collector["group"] in settings["SupplementaryGroups"][0].split()
    assert settings["RestrictAddressFamilies"] == ["AF_UNIX"]  # it only listens on the socket
    (prepare,) = settings["ExecStartPre"]
    assert prepare.startswith("+") and prepare.endswith(socket_folder)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_them(tmp_path: Path) -> None:
    # verify wants every command to exist: point ExecStart at this checkout's tlsrpt
    beside = Path(sys.executable).parent / "tlsrpt"  # the venv's script, PATH or not
    tlsrpt = str(beside) if beside.exists() else shutil.which("tlsrpt")
    assert tlsrpt is not None
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED, tlsrpt),
                        encoding="utf-8")
        copies.append(str(copy))
    # --man=no: Documentation= names the man pages that `tlsrpt man` makes; not installed here
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *copies],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""
