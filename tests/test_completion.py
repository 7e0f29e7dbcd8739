"""`tlsrpt completion bash|zsh|fish` (shtab) and `tlsrpt man` (argparse-manpage) are made from
the argument parser: every command and every option that `--help` shows is in each script and
in the man pages; bash really completes with its script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser, main
from engine.cli.shell_commands import subcommands

_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "2000")  # --help unwrapped: no option split over two lines


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def _commands(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The commands as the top-level --help lists them (`    NAME   summary` lines)."""
    text = _help(capsys)
    listed = re.findall(r"^    (\w+)\s", text.split("positional arguments:")[1], re.M)
    assert listed == list(subcommands(build_parser()))  # the parse of --help is right
    return listed


def _options(capsys: pytest.CaptureFixture[str], command: str) -> set[str]:
    return set(_OPTION.findall(_help(capsys, command))) - {"--help"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("shell", ("bash", "zsh"))
def test_every_command_and_option_is_in_the_script(shell: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    script = _run(capsys, "completion", shell)
    commands = _commands(capsys)
    assert len(commands) >= 12
    for command in commands:
        assert re.search(rf"(?<![\w-]){command}(?![\w-])", script), (shell, command)
        options = _options(capsys, command)
        assert "--log-level" in options
        for option in options:
            assert re.search(rf"{option}(?![\w-])", script), (shell, command, option)


def test_fish_script_completes_each_commands_own_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    script = _run(capsys, "completion", "fish")
    commands = _commands(capsys)
    assert f"set -g _shtab_tlsrpt_commands {' '.join(commands)}\n" in script
    for command in commands:
        lines = [line for line in script.splitlines()
                 if line.startswith(f"complete -c tlsrpt -n '_shtab_tlsrpt_using {command}'")]
        listed = {"--" + name for line in lines for name in re.findall(r" -l (\S+)", line)}
        assert listed == _options(capsys, command) | {"--help"}, command


def test_bash_script_lists_each_commands_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    script = _run(capsys, "completion", "bash")
    for command in _commands(capsys):
        found = re.search(rf"^_shtab_tlsrpt_{command}_option_strings=\((.*)\)$", script, re.M)
        assert found is not None, command
        listed = set(found.group(1).split())
        assert listed == _options(capsys, command) | {"-h", "--help"} | (
            {"-k"} if command == "test" else set()), command


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    program = (f"source {script}; COMP_WORDS=({' '.join(words)}); "
               f"COMP_CWORD={len(words) - 1}; _shtab_tlsrpt; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.split()


def test_bash_completes_commands_and_options(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert shutil.which("bash") is not None
    script = tmp_path / "tlsrpt.bash"
    script.write_text(_run(capsys, "completion", "bash"), encoding="utf-8")
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=60)
    assert _bash_complete(script, ["tlsrpt", "co"]) == ["collect", "completion"]
    assert _bash_complete(script, ["tlsrpt", "eval", "--co"]) == ["--config"]
    assert _bash_complete(script, ["tlsrpt", "completion", "z"]) == ["zsh"]


def _roff_text(page: str) -> str:
    return re.sub(r"\\f[BRIP]|\\[/,]", "", page).replace("\\-", "-")


def test_man_pages_have_every_command_and_option(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "man1"
    assert _run(capsys, "man", "--out", str(out)).endswith(f"written to {out}\n")
    commands = _commands(capsys)
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["tlsrpt.1", *(f"tlsrpt-{command}.1" for command in commands)])
    whole = _roff_text((out / "tlsrpt.1").read_text(encoding="utf-8"))
    assert whole.startswith('.TH TLSRPT "1"')
    for command in commands:
        page = _roff_text((out / f"tlsrpt-{command}.1").read_text(encoding="utf-8"))
        assert page.startswith(f'.TH TLSRPT-{command.upper()} "1"')
        assert f"COMMAND 'tlsrpt {command}'" in whole
        assert f"\n.SH SYNOPSIS\n.B tlsrpt\n{command} [-h]" in page
        for option in _options(capsys, command):
            assert re.search(rf"{option}(?![\w-])", page), (command, option)
            assert re.search(rf"{option}(?![\w-])", whole), (command, option)
    assert _run(capsys, "man") == (out / "tlsrpt.1").read_text(encoding="utf-8")


@pytest.mark.parametrize(("argv", "extra"), [(["completion", "bash"], "completion"),
                                             (["man"], "man")])
def test_without_the_extra_it_says_what_to_install(
        argv: list[str], extra: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for module in ("shtab", "argparse_manpage", "argparse_manpage.manpage"):
        monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    assert main(argv) == 2
    assert f"pip install 'tlsrpt-engine[{extra}]'" in capsys.readouterr().err
