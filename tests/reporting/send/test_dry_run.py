"""`tlsrpt report --dry-run` is the real pass with a file transport: the same render and the
same destination rules (suppress, bcc, send-all-success), and no change in the store."""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import sqlite3
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from engine.cli import main
from engine.reporting.send.scheduler import run_once
from engine.reporting.store.sqlite.events import SqliteEventStore
from tests.reporting.send.test_scheduler import DOMAIN, SEND_AT, events, no_dns, write_config


def database_dump(path: Path) -> list[str]:
    """Every table's rows (events, ledger, outbound records, frozen markers) as SQL text."""
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def dry_run(config: Path, database: Path, out: Path) -> list[str]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["report", str(config), "--db", str(database), "--dry-run", "--out",
                     str(out), "--now", str(SEND_AT)]) == 0
    return buffer.getvalue().splitlines()


def test_a_suppressed_destination_is_absent_and_the_bcc_copy_present(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    write_config(config, relay_port=2525,
                 aggregate="suppress = \"['blocked.example']\"\n"
                           "bcc = \"['ops@example.com']\"")
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as store:
        store.add(events(destinations=("mailto:tls@example.org", "mailto:x@blocked.example",
                                       "https://r.blocked.example/v1")))
    before = database_dump(database)
    summary, *details = dry_run(config, database, tmp_path / "out")
    assert ": ready;" in summary and "1 destination ->" in summary
    assert details == [
        "  to: mailto:tls@example.org",
        "  suppressed: mailto:x@blocked.example (suppress entry blocked.example)",
        "  suppressed: https://r.blocked.example/v1 (suppress entry blocked.example)",
        "  bcc: mailto:ops@example.com (a copy of its own)",
    ]
    [eml] = (tmp_path / "out").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "tls@example.org"          # the copy is blind
    assert b"blocked.example" not in eml.read_bytes()
    # nothing changed in the store: events, ledger and frozen markers as they were
    assert database_dump(database) == before


def test_a_report_skipped_by_send_all_success_says_so(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    write_config(config, relay_port=2525, aggregate="send-all-success = false")
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as store:
        store.add(events(failures=0))
    [line] = dry_run(config, database, tmp_path / "out")
    assert "NOT SENT (no failures: only successful sessions and send-all-success is false)" \
        in line and line.endswith("-> nothing written")
    assert not (tmp_path / "out").exists()


def test_the_dry_run_and_a_real_pass_send_the_same(tmp_path: Path, mail_server: Any,
                                                   report_receiver: Any,
                                                   trusting_post: Callable[..., Any]) -> None:
    config_path = tmp_path / "c.toml"
    config = write_config(config_path, relay_port=mail_server.port,
                          aggregate="suppress = \"['blocked.example']\"\n"
                                    "bcc = \"['ops@example.com']\"")
    database = tmp_path / "tlsrpt.db"
    https = report_receiver.url("/v1")
    with SqliteEventStore(database) as store:
        store.add(events(destinations=("mailto:tls@example.org", "mailto:x@blocked.example",
                                       https)))
    before = database_dump(database)
    lines = dry_run(config_path, database, tmp_path / "out")
    assert database_dump(database) == before
    [payload] = (tmp_path / "out").glob("*.json.gz")
    [eml] = (tmp_path / "out").glob("*.eml")

    with SqliteEventStore(database) as store:
        summary = run_once(config, store, SEND_AT, resolver=no_dns(),
                           post_report=trusting_post)
    assert summary.delivered == 3
    domain_copy, operator_copy = mail_server.recorder.messages
    assert (domain_copy.rcpt_tos, operator_copy.rcpt_tos) == (["tls@example.org"],
                                                              ["ops@example.com"])
    assert lines[1:] == [
        f"  to: mailto:tls@example.org, {https}",
        "  suppressed: mailto:x@blocked.example (suppress entry blocked.example)",
        "  bcc: mailto:ops@example.com (a copy of its own)",
    ]
    # byte-identical report: the JSON, its gzip file and (same clock, same keys) the message
    [posted] = report_receiver.posts
    assert posted.body == payload.read_bytes()
    sent = email.message_from_bytes(domain_copy.content, policy=email.policy.default)
    attachment = list(sent.iter_attachments())[0]
    assert attachment.get_content() == payload.read_bytes()
    assert gzip.decompress(attachment.get_content()) == gzip.decompress(payload.read_bytes())
    assert domain_copy.content.replace(b"\r\n", b"\n") == eml.read_bytes().replace(
        b"\r\n", b"\n")
    assert DOMAIN in lines[0]
