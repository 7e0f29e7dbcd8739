"""The scheduler (spec/reporting.md 5.2, 6.1-6.5) on a fake clock, against a real SMTP relay
(aiosmtpd) and a real HTTPS server (trustme certificate), both on 127.0.0.1.

`now` is passed to every pass; the servers answer at once, so a whole day of retries runs in
a moment. Fixtures: tests/reporting/conftest.py.
"""

from __future__ import annotations

import base64
import email
import email.policy
import fcntl
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.config.config import Config, load_config
from engine.reporting import ledger
from engine.reporting.deliver import DeliveryResult, Outcome
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.scheduler import (
    PAUSE_ENV,
    RunSummary,
    backoff,
    jitter,
    ledger_rows,
    run_once,
    send_at,
    suppressed,
)
from engine.reporting.sign import verify_message
from engine.reporting.store import SqliteEventStore
from engine.reporting.tlsrpt_record import Outcome as RecordOutcome
from engine.reporting.tlsrpt_record import RecordResult

pytest.importorskip("aiosmtpd")
pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400
T0 = 1_714_953_600                      # 2024-05-06T00:00:00Z
END = T0 + DAY
DOMAIN = "example.org"
REPORT_ID = f"{T0}_{END - 1}_{DOMAIN}"
SEND_AT = 1_715_050_182                 # spec 11: J = 10182 with delay 10800
#: spec 6.1: attempt offsets from the first attempt with the default retry-max-age
OFFSETS = [0, 300, 900, 2100, 4500, 9300, 18900, 33300, 47700, 62100, 76500]

STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mail.example.org",
                     "max_age: 604800"), DOMAIN, ("mail.example.org",))
FAILURE = FailureDetail("certificate-expired", sending_mta_ip="198.51.100.1",
                        receiving_mx_hostname="mail.example.org", receiving_ip="192.0.2.25",
                        failure_reason_code="X509_V_ERR_CERT_HAS_EXPIRED")


# --- helpers ---------------------------------------------------------------------------------


def write_config(path: Path, *, relay_port: int | None, aggregate: str = "",
                 extra: str = "", sign: str = "[]") -> Config:
    relay = "" if relay_port is None else (
        f'[report.relay]\nhost = "127.0.0.1"\nport = {relay_port}\ntimeout = 10\n')
    path.write_text(
        '[server]\nhostname = "mta.example.com"\n[report]\ndomain = "example.com"\n'
        '[report.tls.aggregate]\nsend = "daily"\n'
        f'sign = "{sign}"\n'
        'contact-info = "\'tlsrpt@mta.example.com\'"\norg-name = "\'Example Sender\'"\n'
        f"{aggregate}\n{relay}\n{extra}\n", encoding="utf-8")
    return load_config(str(path))


def events(domain: str = DOMAIN, destinations: tuple[str, ...] | None = (
        "mailto:tls@example.org",), *, failures: int = 1, successes: int = 2,
        prefix: str = "e", start: int = T0) -> list[tuple[Event, int, int]]:
    items = []
    for index in range(successes + failures):
        failed = index >= successes
        items.append((Event(time=start + 100 + index, report_domain=domain, policy=STS,
                            success=not failed, failure_details=(FAILURE,) if failed else (),
                            destinations=destinations,
                            event_id=f"{prefix}{domain}{start}-{index}"),
                      start, start + DAY))
    return items


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    with SqliteEventStore(tmp_path / "tlsrpt.db") as opened:
        yield opened


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


class FakeResolver:
    """Answers every lookup with `result`, or with `per_domain[domain]` when given."""

    def __init__(self, result: RecordResult, **per_domain: RecordResult) -> None:
        self.result = result
        self.per_domain = {domain.replace("_", "."): found
                           for domain, found in per_domain.items()}
        self.calls: list[str] = []

    def lookup(self, domain: str) -> RecordResult:
        self.calls.append(domain)
        return self.per_domain.get(domain, self.result)


def no_dns() -> FakeResolver:
    return FakeResolver(RecordResult(RecordOutcome.NOT_FOUND))


def run(config: Config, store: SqliteEventStore, now: int, post: Callable[..., Any],
        **options: Any) -> RunSummary:
    options.setdefault("resolver", no_dns())
    return run_once(config, store, now, post_report=post, **options)


def units(store: SqliteEventStore) -> list[ledger.UnitRow]:
    return ledger.units_of(store, REPORT_ID)


def key_state(store: SqliteEventStore, domain: str = DOMAIN) -> str | None:
    row = ledger.key_row(store, domain, T0, END)
    return None if row is None else row.state


def sent_log(store: SqliteEventStore, report_id: str = REPORT_ID) -> dict[str, Any] | None:
    row = store.connection.execute("SELECT result FROM sent_log WHERE report_id = ?",
                                   (report_id,)).fetchone()
    return None if row is None else json.loads(row[0])


def event_count(store: SqliteEventStore) -> int:
    return store.stats()["events"]


def attachment(message: bytes) -> dict[str, Any]:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    [part] = [p for p in parsed.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    return json.loads(gzip.decompress(base64.b64decode(part.get_payload())))


# --- send_at ---------------------------------------------------------------------------------


def test_jitter_formula_and_worked_example() -> None:
    assert jitter(REPORT_ID, 10800) == 10182
    assert send_at(DOMAIN, T0, END, 10800) == SEND_AT
    assert jitter(REPORT_ID, 0) == 0
    # deterministic and within [0, delay]
    for delay in (1, 59, 3600, 10800, 36000):
        values = {jitter(REPORT_ID, delay) for _ in range(3)}
        assert len(values) == 1 and 0 <= values.pop() <= delay


def test_nothing_is_rendered_before_send_at(tmp_path: Path, store: SqliteEventStore,
                                            mail_server: Any,
                                            trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events())
    for now in (END, SEND_AT - 1):
        summary = run(config, store, now, trusting_post)
        assert summary.rendered == 0 and summary.attempts == 0
        assert summary.next_due == SEND_AT
    assert key_state(store) is None
    summary = run(config, store, SEND_AT, trusting_post)
    assert summary.rendered == 1 and summary.delivered == 1 and summary.done == 1
    [message] = mail_server.recorder.messages
    assert b"Date: Tue, 07 May 2024 02:49:42 +0000" in message.content


def test_backoff_schedule() -> None:
    assert [backoff(k) for k in range(1, 10)] == [300, 600, 1200, 2400, 4800, 9600, 14400,
                                                  14400, 14400]
    offsets = [0]
    while True:
        later = offsets[-1] + backoff(len(offsets))
        if later > 86400:
            break
        offsets.append(later)
    assert offsets == OFFSETS


# --- delivery --------------------------------------------------------------------------------


def test_every_destination_is_tried(tmp_path: Path, store: SqliteEventStore, mail_server: Any,
                                    report_receiver: Any,
                                    trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    destinations = ("mailto:tls@example.org", report_receiver.url("/one"),
                    "mailto:copy@example.net", report_receiver.url("/two?k=1"))
    store.add(events(destinations=destinations))
    log = Lines()
    summary = run(config, store, SEND_AT, trusting_post, log=log)
    assert (summary.rendered, summary.attempts, summary.delivered, summary.done) == (1, 3, 3, 1)
    # one message for all mailto: destinations, one POST per https: URI
    [message] = mail_server.recorder.messages
    assert message.rcpt_tos == ["tls@example.org", "copy@example.net"]
    assert message.mail_from == "noreply-tls@example.com"
    assert b"To: <tls@example.org>, <copy@example.net>" in message.content
    assert report_receiver.paths() == ["/one", "/two?k=1"]
    report = json.loads(gzip.decompress(report_receiver.posts[0].body))
    assert report["report-id"] == REPORT_ID
    assert attachment(message.content) == report
    assert report_receiver.posts[0].body == report_receiver.posts[1].body
    assert report_receiver.posts[0].headers["content-type"] == "application/tlsrpt+gzip"
    # finished: events and outbound record gone, the sent log says what happened
    assert event_count(store) == 0
    assert key_state(store) == ledger.DONE
    assert store.connection.execute("SELECT count(*) FROM outbound").fetchone() == (0,)
    log_row = sent_log(store)
    assert log_row is not None and log_row["outcome"] == "delivered"
    assert [u["status"] for u in log_row["units"]] == ["delivered"] * 3
    assert any(line.startswith(f"{REPORT_ID}: DONE, delivered (3 of 3 units)")
               for line in log.lines)
    # a late event for the finished window is dropped, and nothing is sent again
    assert store.add(events(prefix="late")) == 0
    again = run(config, store, SEND_AT + DAY, trusting_post)
    assert again.attempts == 0 and len(mail_server.recorder.messages) == 1


def test_each_unit_has_its_own_state(tmp_path: Path, store: SqliteEventStore,
                                     mail_server: Any, report_receiver: Any,
                                     trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    report_receiver.status["/gone"] = 404
    report_receiver.status["/busy"] = 503
    destinations = (report_receiver.url("/ok"), "mailto:temp@example.org",
                    report_receiver.url("/gone"), report_receiver.url("/busy"))
    store.add(events(destinations=destinations))
    summary = run(config, store, SEND_AT, trusting_post)
    assert (summary.delivered, summary.failed, summary.retrying) == (1, 1, 2)
    found = {(u.kind, u.target): u for u in units(store)}
    assert [(u.idx, u.kind) for u in units(store)] == [(0, "https"), (1, "mail"), (2, "https"),
                                                       (3, "https")]
    ok = found[("https", report_receiver.url("/ok"))]
    assert (ok.status, ok.attempts, ok.next_attempt) == ("delivered", 1, None)
    gone = found[("https", report_receiver.url("/gone"))]
    assert (gone.status, gone.attempts) == ("failed", 1) and "404" in (gone.last_error or "")
    busy = found[("https", report_receiver.url("/busy"))]
    assert (busy.status, busy.next_attempt) == ("pending", SEND_AT + 300)
    assert "503" in (busy.last_error or "")
    mail = found[("mail", '["temp@example.org"]')]
    assert (mail.status, mail.first_attempt, mail.next_attempt) == ("pending", SEND_AT,
                                                                    SEND_AT + 300)
    assert "450" in (mail.last_error or "")
    assert key_state(store) == ledger.DELIVERING
    assert event_count(store) == 3


def test_retries_follow_the_backoff_until_expiry(tmp_path: Path, store: SqliteEventStore,
                                                 mail_server: Any, report_receiver: Any,
                                                 trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    mail_server.recorder.data_reply = "451 4.3.0 try again later"
    report_receiver.status["/busy"] = 503
    store.add(events(destinations=("mailto:tls@example.org", report_receiver.url("/busy"))))
    log = Lines()
    for number, offset in enumerate(OFFSETS, start=1):
        if offset:
            early = run(config, store, SEND_AT + offset - 1, trusting_post, log=log)
            assert early.attempts == 0, f"attempt {number} came early"
            assert early.next_due == SEND_AT + offset
        # the configuration may change meanwhile: retries still send the stored bytes
        if number == 5:
            config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                                  aggregate="from-name = \"'Changed'\"")
        summary = run(config, store, SEND_AT + offset, trusting_post, log=log)
        assert summary.attempts == 2, f"attempt {number}"
        if number < len(OFFSETS):
            assert summary.retrying == 2 and event_count(store) == 3
            assert {u.attempts for u in units(store)} == {number}
            assert {u.next_attempt for u in units(store)} == {SEND_AT + OFFSETS[number]}
    assert summary.expired == 2 and summary.done == 1
    assert event_count(store) == 0
    result = sent_log(store)
    assert result is not None and result["outcome"] == "not delivered"
    assert [(u["status"], u["attempts"], u["first_attempt"], u["last_attempt"])
            for u in result["units"]] == [("expired", 11, SEND_AT, SEND_AT + 76500)] * 2
    assert any("EXPIRED after 11 attempts" in line for line in log.lines)
    assert any("error: no destination accepted the report" in line for line in log.lines)
    # every attempt sent the same bytes
    assert len(mail_server.recorder.attempts) == 11
    assert len({m.content for m in mail_server.recorder.attempts}) == 1
    assert b"Changed" not in mail_server.recorder.attempts[-1].content
    assert len(report_receiver.posts) == 11
    assert len({p.body for p in report_receiver.posts}) == 1
    assert run(config, store, SEND_AT + 2 * DAY, trusting_post).attempts == 0


def test_shorter_retry_max_age_expires_sooner(tmp_path: Path, store: SqliteEventStore,
                                              mail_server: Any,
                                              trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          aggregate='retry-max-age = "1000"')
    store.add(events(destinations=("mailto:temp@example.org",)))
    assert run(config, store, SEND_AT, trusting_post).retrying == 1            # 0
    assert run(config, store, SEND_AT + 300, trusting_post).retrying == 1      # 300
    summary = run(config, store, SEND_AT + 900, trusting_post)                 # 900 + 1200 > 1000
    assert summary.expired == 1 and summary.done == 1 and event_count(store) == 0


def test_permanent_failure(tmp_path: Path, store: SqliteEventStore, mail_server: Any,
                           trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events(destinations=("mailto:perm@example.org",)))
    log = Lines()
    summary = run(config, store, SEND_AT, trusting_post, log=log)
    assert (summary.attempts, summary.failed, summary.done) == (1, 1, 1)
    assert event_count(store) == 0
    result = sent_log(store)
    assert result is not None and result["units"][0]["status"] == "failed"
    assert "550" in result["units"][0]["last_error"]
    assert any("FAILED, permanent failure" in line for line in log.lines)
    assert run(config, store, SEND_AT + 300, trusting_post).attempts == 0


def test_events_are_deleted_only_when_every_unit_is_final(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any, report_receiver: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    report_receiver.status["/later"] = 503
    store.add(events(destinations=("mailto:tls@example.org", report_receiver.url("/later"))))
    first = run(config, store, SEND_AT, trusting_post)
    assert (first.delivered, first.retrying, first.done) == (1, 1, 0)
    assert event_count(store) == 3 and key_state(store) == ledger.DELIVERING
    assert run(config, store, SEND_AT + 299, trusting_post).attempts == 0
    assert event_count(store) == 3
    del report_receiver.status["/later"]
    second = run(config, store, SEND_AT + 300, trusting_post)
    assert (second.attempts, second.delivered, second.done) == (1, 1, 1)  # mail not resent
    assert event_count(store) == 0
    assert len(mail_server.recorder.messages) == 1 and len(report_receiver.posts) == 2


def test_missing_relay_is_a_temporary_failure_of_the_mail_unit(
        tmp_path: Path, store: SqliteEventStore, report_receiver: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=None)
    store.add(events(destinations=("mailto:tls@example.org", report_receiver.url("/ok"))))
    summary = run(config, store, SEND_AT, trusting_post)
    assert (summary.delivered, summary.retrying) == (1, 1)
    mail = next(u for u in units(store) if u.kind == "mail")
    assert mail.status == "pending"
    assert mail.last_error == ("no usable SMTP relay ([report.relay]): no [report.relay] host "
                               "configured")


# --- when nothing is sent --------------------------------------------------------------------


def test_no_destinations_is_done_without_sending(tmp_path: Path, store: SqliteEventStore,
                                                 mail_server: Any,
                                                 trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events(destinations=None))
    resolver = FakeResolver(RecordResult(RecordOutcome.NOT_FOUND))
    log = Lines()
    summary = run(config, store, SEND_AT, trusting_post, resolver=resolver, log=log)
    assert resolver.calls == [DOMAIN]
    assert (summary.not_sent, summary.attempts, summary.rendered) == (1, 0, 0)
    assert event_count(store) == 0 and key_state(store) == ledger.DONE
    assert mail_server.recorder.messages == []
    result = sent_log(store)
    assert result is not None and result["outcome"] == "not sent"
    assert "not-found" in result["reason"]
    assert any("DONE without sending" in line and "3 events deleted" in line
               for line in log.lines)


def test_record_destinations_are_used_when_events_carry_none(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events(destinations=None))
    resolver = FakeResolver(RecordResult(RecordOutcome.OK,
                                         destinations=("mailto:rua@example.org",)))
    summary = run(config, store, SEND_AT, trusting_post, resolver=resolver)
    assert summary.delivered == 1 and summary.done == 1
    assert mail_server.recorder.messages[0].rcpt_tos == ["rua@example.org"]


def test_tempfail_record_lookup_is_retried_then_given_up(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events(destinations=None))
    store.add(events(domain="example.net", destinations=None))
    net_id = f"{T0}_{END - 1}_example.net"
    net_send_at = send_at("example.net", T0, END, 10800)
    start = max(SEND_AT, net_send_at)
    tempfail = RecordResult(RecordOutcome.TEMPFAIL, reason="DNS error: timeout")
    resolver = FakeResolver(tempfail)
    summary = run(config, store, start, trusting_post, resolver=resolver)
    assert summary.deferred == 2 and summary.rendered == 0
    assert key_state(store) == ledger.OPEN
    row = ledger.key_row(store, DOMAIN, T0, END)
    assert row is not None and row.next_try == start + 300 and "timeout" in (row.last_error or "")
    assert summary.next_due == start + 300
    # not before 300 s
    assert run(config, store, start + 299, trusting_post, resolver=resolver).deferred == 0
    assert len(resolver.calls) == 2
    # example.org's record comes back; example.net's stays broken
    resolver = FakeResolver(tempfail, example_org=RecordResult(
        RecordOutcome.OK, destinations=("mailto:rua@example.org",)))
    summary = run(config, store, start + 300, trusting_post, resolver=resolver)
    assert summary.rendered == 1 and summary.delivered == 1 and summary.deferred == 1
    assert event_count(store) == 3
    # give up at the first try once retry-max-age has passed since send_at
    later = net_send_at + 86400
    summary = run(config, store, later - 1, trusting_post, resolver=FakeResolver(tempfail))
    assert summary.deferred == 1 and summary.next_due == later + 299
    assert run(config, store, later + 298, trusting_post,
               resolver=FakeResolver(tempfail)).deferred == 0
    log = Lines()
    summary = run(config, store, later + 299, trusting_post, resolver=FakeResolver(tempfail),
                  log=log)
    assert summary.not_sent == 1 and event_count(store) == 0
    result = sent_log(store, net_id)
    assert result is not None and "record lookup failed" in result["reason"]
    assert any(line.startswith(f"{net_id}: error: DONE without sending") for line in log.lines)


def test_suppression(tmp_path: Path, store: SqliteEventStore, mail_server: Any,
                     report_receiver: Any, trusting_post: Callable[..., Any]) -> None:
    config = write_config(
        tmp_path / "c.toml", relay_port=mail_server.port,
        aggregate=f"suppress = \"['blocked.example', 'Someone@Example.org', "
                  f"'{report_receiver.url('/private')}']\"")
    destinations = ("mailto:a@blocked.example", "mailto:b@sub.blocked.example",
                    "mailto:someone@example.org", "mailto:kept@example.org",
                    "https://reports.blocked.example/x", report_receiver.url("/private/1"),
                    report_receiver.url("/public"))
    store.add(events(destinations=destinations))
    log = Lines()
    summary = run(config, store, SEND_AT, trusting_post, log=log)
    assert summary.delivered == 2
    assert mail_server.recorder.messages[0].rcpt_tos == ["kept@example.org"]
    assert report_receiver.paths() == ["/public"]
    assert sum("suppressed" in line for line in log.lines) == 5
    # everything suppressed: not sent
    store.add(events(domain="example.net", destinations=("mailto:x@blocked.example",)))
    summary = run(config, store, SEND_AT + DAY, trusting_post)
    assert summary.not_sent == 1 and summary.attempts == 0


def test_suppress_matching() -> None:
    entries = ["blocked.example", "Someone@Example.org", "https://r.example/private"]
    assert suppressed("mailto:x@blocked.example", entries) == "blocked.example"
    assert suppressed("mailto:x@notblocked.example", entries) is None
    assert suppressed("mailto:someone@example.org", entries) == "Someone@Example.org"
    assert suppressed("https://a.blocked.example/r", entries) == "blocked.example"
    assert suppressed("https://r.example/private/2", entries) == "https://r.example/private"
    assert suppressed("https://r.example/public", entries) is None


def test_send_all_success_false_sends_only_reports_with_failures(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          aggregate='send-all-success = "false"\ndelay = "0"')
    store.add(events(domain="clean.example", destinations=("mailto:a@clean.example",),
                     failures=0))
    store.add(events(domain="broken.example", destinations=("mailto:b@broken.example",)))
    summary = run(config, store, END, trusting_post)
    assert (summary.not_sent, summary.delivered) == (1, 1)
    [message] = mail_server.recorder.messages
    assert message.rcpt_tos == ["b@broken.example"]
    assert event_count(store) == 0
    result = sent_log(store, f"{T0}_{END - 1}_clean.example")
    assert result is not None and result["reason"].startswith("no failures")


def test_oversize_report_is_not_sent(tmp_path: Path, store: SqliteEventStore,
                                     mail_server: Any,
                                     trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          aggregate='max-size = "100"')
    store.add(events())
    summary = run(config, store, SEND_AT, trusting_post)
    assert summary.not_sent == 1 and summary.attempts == 0 and event_count(store) == 0
    result = sent_log(store)
    assert result is not None and result["reason"].startswith("oversize")


# --- signing ---------------------------------------------------------------------------------


def _public_key(pem: Path) -> bytes:
    der = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return base64.b64encode(der)


def test_held_report_is_not_sent_and_goes_out_once_the_config_is_fixed(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any, report_receiver: Any,
        trusting_post: Callable[..., Any], example_keys: Path) -> None:
    broken = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          sign="['rsa-example.com']")
    store.add(events(destinations=("mailto:tls@example.org", report_receiver.url("/ok"))))
    log = Lines()
    for offset in (0, 60):
        summary = run(broken, store, SEND_AT + offset, trusting_post, log=log)
        assert summary.held == 1 and summary.rendered == 0 and summary.attempts == 0
        assert summary.problems
    assert mail_server.recorder.messages == [] and report_receiver.posts == []
    assert event_count(store) == 3
    assert key_state(store) == ledger.HELD
    assert sum("HELD, not sent: DKIM signature `rsa-example.com`" in line
               for line in log.lines) == 2
    row = ledger.key_row(store, DOMAIN, T0, END)
    assert row is not None and "rsa-example.com" in (row.last_error or "")
    # late events still count while the key is held (it is not frozen)
    assert store.add(events(prefix="more", failures=0, successes=1)) == 1

    key = example_keys / "rsa.example.org.pem"
    fixed = write_config(
        tmp_path / "c.toml", relay_port=mail_server.port, sign="['rsa-example.com']",
        extra=f'[signature."rsa-example.com"]\nprivate-key = "%{{file:{key}}}%"\n'
              'domain = "example.com"\nselector = "tls"\nalgorithm = "rsa-sha256"\n')
    summary = run(fixed, store, SEND_AT + 120, trusting_post)
    assert summary.rendered == 1 and summary.delivered == 2 and summary.done == 1
    [message] = mail_server.recorder.messages
    assert message.content.startswith(b"DKIM-Signature:")
    dns = {b"tls._domainkey.example.com.": b"v=DKIM1; k=rsa; s=tlsrpt; p=" + _public_key(key)}
    assert verify_message(message.content, lambda name, timeout=5: dns.get(name)) == [True]
    assert attachment(message.content)["policies"][0]["summary"] == {
        "total-successful-session-count": 3, "total-failure-session-count": 1}
    assert event_count(store) == 0


# --- housekeeping, locking, status -----------------------------------------------------------


def test_safety_net_purges_keys_that_never_finish(tmp_path: Path, store: SqliteEventStore,
                                                  mail_server: Any,
                                                  trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          sign="['missing']")
    store.add(events())
    assert run(config, store, SEND_AT, trusting_post).held == 1
    limit = END + 10800 + 86400 + 7 * DAY
    assert run(config, store, limit, trusting_post).held == 1
    log = Lines()
    summary = run(config, store, limit + 1, trusting_post, log=log)
    assert summary.purged == 1 and summary.problems and event_count(store) == 0
    assert any("purged by the safety net" in line for line in log.lines)
    result = sent_log(store)
    assert result is not None and result["outcome"] == "not sent"


def test_sent_log_is_forgotten_after_retention(tmp_path: Path, store: SqliteEventStore,
                                               mail_server: Any,
                                               trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          aggregate='sent-log-retention = "3600"')
    store.add(events())
    run(config, store, SEND_AT, trusting_post)
    assert sent_log(store) is not None
    run(config, store, SEND_AT + 3600, trusting_post)
    assert sent_log(store) is not None
    run(config, store, SEND_AT + 3601, trusting_post)
    assert sent_log(store) is None and key_state(store) is None


def test_a_second_pass_does_nothing_while_one_runs(tmp_path: Path, store: SqliteEventStore,
                                                   mail_server: Any,
                                                   trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events())
    descriptor = os.open(f"{store.path}-scheduler.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        summary = run(config, store, SEND_AT, trusting_post)
        assert summary.busy and summary.rendered == 0
    finally:
        os.close(descriptor)
    assert run(config, store, SEND_AT, trusting_post).done == 1


def test_render_is_refused_when_events_arrived_meanwhile(store: SqliteEventStore) -> None:
    store.add(events())
    mark = ledger.event_mark(store, DOMAIN, T0, END)
    store.add(events(prefix="new", successes=1, failures=0))
    assert not ledger.render(store, domain=DOMAIN, start=T0, end=END, report_id=REPORT_ID,
                             send_at=SEND_AT, mark=mark, filename="f.json.gz",
                             json_bytes=b"{}", payload=b"", message=None, mail_from=None,
                             units=[("https", "https://x.example/")], now=SEND_AT)
    assert key_state(store) is None and store.stats()["frozen_windows"] == 0


def test_status_shows_every_report_and_destination(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any, report_receiver: Any,
        trusting_post: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "c.toml"
    config = write_config(config_path, relay_port=mail_server.port)
    report_receiver.status["/busy"] = 503
    store.add(events(destinations=("mailto:temp@example.org", report_receiver.url("/busy"),
                                   report_receiver.url("/ok"))))
    store.add(events(domain="waiting.example", start=END))
    run(config, store, SEND_AT, trusting_post)
    rows = ledger_rows(store, config)
    by_destination = {row.destination: row for row in rows if row.report_id == REPORT_ID}
    assert by_destination[None].state == "DELIVERING"
    assert by_destination[None].next_try == SEND_AT + 300
    assert by_destination["mailto:temp@example.org"].status == "pending"
    assert by_destination[report_receiver.url("/ok")].status == "delivered"
    waiting = [row for row in rows if row.domain == "waiting.example"]
    assert [row.state for row in waiting] == ["OPEN"]
    assert waiting[0].send_at == send_at("waiting.example", END, END + DAY, 10800)

    database = str(store.path)
    assert main(["status", str(config_path), "--db", database]) == 0
    out = capsys.readouterr().out
    assert f"{REPORT_ID}  DELIVERING" in out
    assert "    mailto:temp@example.org  pending  attempts 1  next try 2024-05-07T02:54:42Z" \
           "  last error: RCPT <temp@example.org>: 450 4.2.1 mailbox busy, try later" in out
    assert f"    {report_receiver.url('/busy')}  pending  attempts 1" in out
    assert "HTTP 503" in out
    assert main(["status", str(config_path), "--db", database, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert {(row["destination"], row["status"]) for row in found
            if row["report_id"] == REPORT_ID} == {
        (None, None), ("mailto:temp@example.org", "pending"),
        (report_receiver.url("/busy"), "pending"), (report_receiver.url("/ok"), "delivered")}


def test_report_command_runs_one_pass(tmp_path: Path, mail_server: Any,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "c.toml"
    write_config(config_path, relay_port=mail_server.port)
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as opened:
        opened.add(events())
    assert main(["report", str(config_path), "--db", str(database), "--now",
                 str(SEND_AT - 1)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["report", str(config_path), "--db", str(database), "--now",
                 "2024-05-07T02:49:42Z"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{REPORT_ID}: warning: report.tls.aggregate.sign is empty")
    assert lines[1].startswith(f"{REPORT_ID}: rendered (1 policy, 2 successful and 1 failed "
                               "sessions")
    assert lines[2].startswith(f"{REPORT_ID} mailto:tls@example.org: attempt 1: delivered")
    assert lines[3] == f"{REPORT_ID}: DONE, delivered (1 of 1 unit); 3 events deleted"
    assert "1 rendered" in captured.err
    assert len(mail_server.recorder.messages) == 1
    assert main(["status", str(config_path), "--db", str(database)]) == 0
    assert f"{REPORT_ID}  DONE" in capsys.readouterr().out
    assert main(["report", str(config_path), "--db", str(database), "--out",
                 str(tmp_path)]) == 2


def test_serve_delivers_and_stops_on_sigterm(tmp_path: Path, mail_server: Any) -> None:
    config_path = tmp_path / "c.toml"
    write_config(config_path, relay_port=mail_server.port)
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as opened:
        opened.add(events())                       # long overdue on the real clock
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(PAUSE_ENV, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", str(config_path), "--db", str(database),
         "--max-sleep", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not mail_server.recorder.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(mail_server.recorder.messages) == 1
        time.sleep(1.5)                            # a few more passes: nothing more to send
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "tlsrpt serve: stopped" in err
    assert f"{REPORT_ID}: DONE, delivered" in out
    assert len(mail_server.recorder.messages) == 1
    with SqliteEventStore(database) as opened:
        assert opened.stats()["events"] == 0


def test_dry_run_is_unchanged_by_the_scheduler(tmp_path: Path, mail_server: Any) -> None:
    config_path = tmp_path / "c.toml"
    write_config(config_path, relay_port=mail_server.port)
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as opened:
        opened.add(events())
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["report", str(config_path), "--db", str(database), "--dry-run", "--out",
                     str(tmp_path / "out"), "--now", str(SEND_AT)]) == 0
    assert ": ready;" in buffer.getvalue()
    assert mail_server.recorder.messages == []
    with SqliteEventStore(database) as opened:
        assert opened.stats()["events"] == 3


def test_fake_transport_results_map_to_unit_states(tmp_path: Path, store: SqliteEventStore,
                                                   trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=2525)
    outcomes = [DeliveryResult(Outcome.TEMPORARY, "421 busy"),
                DeliveryResult(Outcome.DELIVERED, "250 ok")]
    sent: list[bytes] = []

    def fake_send(relay: Any, *, mail_from: str, recipients: list[str],
                  message: bytes) -> DeliveryResult:
        sent.append(message)
        return outcomes.pop(0)

    store.add(events())
    first = run_once(config, store, SEND_AT, resolver=no_dns(), send_mail=fake_send,
                     post_report=trusting_post)
    assert first.retrying == 1
    second = run_once(config, store, SEND_AT + 300, resolver=no_dns(), send_mail=fake_send,
                      post_report=trusting_post)
    assert second.delivered == 1 and second.done == 1
    assert len(sent) == 2 and sent[0] == sent[1]


def test_a_version_1_store_gains_the_ledger(tmp_path: Path, mail_server: Any,
                                            trusting_post: Callable[..., Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.reporting import store as store_module

    database = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_MIGRATIONS", store_module._MIGRATIONS[:1])
        patch.setattr(store_module, "SCHEMA_VERSION", 1)
        with SqliteEventStore(database) as old:
            old.add(events())
            tables = {name for (name,) in old.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "outbound" not in tables
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    with SqliteEventStore(database) as upgraded:
        assert upgraded.connection.execute(
            "SELECT version FROM schema_version").fetchone() == (2,)
        assert upgraded.stats()["events"] == 3
        summary = run(config, upgraded, SEND_AT, trusting_post)
        assert summary.done == 1 and upgraded.stats()["events"] == 0


def test_stop_ends_a_pass_early(tmp_path: Path, store: SqliteEventStore, mail_server: Any,
                                trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events())
    summary = run(config, store, SEND_AT, trusting_post, stop=lambda: True)
    assert summary.stopped and summary.rendered == 0 and summary.attempts == 0
    assert run(config, store, SEND_AT, trusting_post).done == 1


def test_the_operator_copy_is_its_own_unit(tmp_path: Path, store: SqliteEventStore,
                                           mail_server: Any, report_receiver: Any,
                                           trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port,
                          aggregate="bcc = \"['ops@example.com']\"")
    store.add(events(destinations=("mailto:tls@example.org",)))
    summary = run(config, store, SEND_AT, trusting_post)
    assert (summary.attempts, summary.delivered, summary.done) == (2, 2, 1)
    domain_copy, operator_copy = mail_server.recorder.messages
    assert domain_copy.rcpt_tos == ["tls@example.org"]
    assert operator_copy.rcpt_tos == ["ops@example.com"]
    assert operator_copy.content == domain_copy.content  # the same signed bytes
    assert b"ops@example.com" not in domain_copy.content  # a blind copy
    # https only: the operator still gets the report by mail
    store.add(events(domain="example.net", destinations=(report_receiver.url("/r"),)))
    summary = run(config, store, SEND_AT + DAY, trusting_post)
    assert summary.delivered == 2
    assert mail_server.recorder.messages[-1].rcpt_tos == ["ops@example.com"]
