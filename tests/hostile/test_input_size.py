"""Item: every input the CLI reads is bounded while it is read.

Each hostile input runs in a child process capped at 1 GiB of address space; before the
bounds, `eval -` from /dev/zero and a 300 MiB JSON line grew until the kernel stepped in.
After each refusal the same command is run again on a good input, which still works.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine._bounded_io import MAX_CONFIG_BYTES, MAX_LINE_BYTES, bounded_lines
from tests.hostile.bounds import in_child

MIB = 1024 * 1024
CONFIG = '[report]\ndomain = "\'example.org\'"\n[report.tls.aggregate]\nsend = "daily"\n'
EVENT = json.dumps({
    "event_id": "e1", "time": 1714960000, "report_domain": "example.org",
    "policy": {"type": "sts", "strings": ["version: STSv1", "mode: enforce"],
               "mx_hosts": ["mx.example.org"]},
    "outcome": "failure", "failure_details": [{"result-type": "dane-required"}],
    "destinations": ["mailto:tls@example.org"]})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tlsrpt.toml"
    path.write_text(CONFIG)
    return path


def test_eval_stdin_from_dev_zero_is_refused(config: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        run = in_child("eval - < /dev/zero", ["eval", "-", "report.domain"], stdin=zero)
    assert run.status == 2
    assert f"larger than {MAX_CONFIG_BYTES} bytes" in run.err
    again = in_child("eval CONFIG (next input)", ["eval", str(config), "report.domain"])
    assert (again.status, again.out) == (0, "example.org\n")


def test_lint_of_an_oversize_config_is_unreadable(tmp_path: Path, config: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as out:  # a valid TOML comment, one byte over the bound
        out.write(b"#" + b"x" * MAX_CONFIG_BYTES + b"\n")
    run = in_child("lint of a 16 MiB + 2 B config", ["lint", str(big), str(config)])
    assert run.status == 2
    assert "E002" in run.out and f"larger than {MAX_CONFIG_BYTES} bytes" in run.out
    assert "2 files checked" in run.err  # the good file was still linted


def test_resolve_refuses_an_oversize_config(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(CONFIG.encode() + b"#" * (MAX_CONFIG_BYTES + 1))
    run = in_child("resolve of an oversize config", ["resolve", str(big), "--domain", "a.org"])
    assert run.status == 2
    assert "larger than" in run.err


def test_a_fifo_as_config_does_not_block(tmp_path: Path, config: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    run = in_child("lint of a FIFO", ["lint", str(fifo), str(config)])
    assert run.status == 2
    assert "cannot read" in run.err


def test_oversize_test_file_is_refused(tmp_path: Path, config: Path) -> None:
    cases = tmp_path / "big.test.toml"
    cases.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    run = in_child("test CONFIG oversize-testfile", ["test", str(config), str(cases)])
    assert run.status != 0
    assert "larger than" in run.out + run.err
    good = tmp_path / "good.test.toml"
    good.write_text('[[case]]\nname = "send"\nvars = { rcpt_domain = "example.org" }\n'
                    '[case.expect]\n"report.tls.aggregate.send" = "daily"\n')
    again = in_child("test CONFIG good-testfile", ["test", str(config), str(good)])
    assert again.status == 0, again.out + again.err


def _one_huge_line_then_an_event() -> Iterator[bytes]:
    chunk = b" " * MIB
    yield b'{"event_id": "'
    for _ in range(300):  # a 300 MiB JSON line
        yield chunk
    yield b'"}\n' + EVENT.encode() + b"\n"


def test_record_of_a_300_mib_line_rejects_that_line_only(tmp_path: Path, config: Path) -> None:
    run = in_child("record - with a 300 MiB line", ["record", str(config), "-", "--db",
                                                    str(tmp_path / "s.db")],
                   feed=_one_huge_line_then_an_event)
    assert run.status == 1
    assert f"-:1: rejected: line longer than {MAX_LINE_BYTES} bytes" in run.err
    assert "1 events recorded, 0 ignored, 1 rejected" in run.err


def test_bounded_lines_cuts_long_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "lines"
    data.write_bytes(b"a\n" + b"b" * 100 + b"\n" + b"c" * 10 + b"\nlast")
    with data.open("rb") as stream:
        lines = list(bounded_lines(stream, limit=10))
    assert lines == [b"a\n", b"b" * 11, b"c" * 10 + b"\n", b"last"]
