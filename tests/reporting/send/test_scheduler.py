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
import logging
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
from engine.reporting.store import ledger
from engine.reporting.send.deliver import DeliveryOutcome, DeliveryResult
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.send.scheduler import (
    Action,
    RunSummary,
    backoff,
    jitter,
    run_once,
    send_at,
)
from engine.reporting.send.status import ledger_rows
from engine.reporting.send.destinations import suppressed
from engine.reporting.sign import verify_message
from engine.reporting.store.sqlite.events import SqliteEventStore
from engine.reporting.tlsrpt_record import TlsrptRecordOutcome
from engine.reporting.tlsrpt_record import TlsrptRecordResult

pytest.importorskip("aiosmtpd")
pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parents[3]
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
    """Collects the structured actions a pass gives to its `log`."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def __call__(self, action: Action) -> None:
        self.actions.append(action)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [action.fields for action in self.actions if action.event == event]

    def level(self, event: str) -> set[int]:
        return {action.level for action in self.actions if action.event == event}


class FakeResolver:
    """Answers every lookup with `result`, or with `per_domain[domain]` when given."""

    def __init__(self, result: TlsrptRecordResult, **per_domain: TlsrptRecordResult) -> None:
        self.result = result
        self.per_domain = {domain.replace("_", "."): found
                           for domain, found in per_domain.items()}
        self.calls: list[str] = []

    def lookup(self, domain: str) -> TlsrptRecordResult:
        self.calls.append(domain)
        return self.per_domain.get(domain, self.result)


def no_dns() -> FakeResolver:
    return FakeResolver(TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND))


def run(config: Config, store: SqliteEventStore, now: int, post: Callable[..., Any],
        **options: Any) -> RunSummary:
    options.setdefault("resolver", no_dns())
    return run_once(config, store, now, post_report=post, **options)


def units(store: SqliteEventStore) -> list[ledger.UnitRow]:
    return store.ledger.units_of(REPORT_ID)


def key_state(store: SqliteEventStore, domain: str = DOMAIN) -> str | None:
    row = store.ledger.key_row(domain, T0, END)
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
    assert log.named("report-done") == [{"report": REPORT_ID, "outcome": "delivered",
                                         "delivered": 3, "units": 3, "events_deleted": 3}]
    assert log.level("report-done") == {logging.INFO}
    assert [fields["destination"] for fields in log.named("delivery-done")] == [
        "mailto:tls@example.org, mailto:copy@example.net", *destinations[1::2]]
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
    assert [fields["attempt"] for fields in log.named("delivery-expired")] == [11, 11]
    assert log.level("delivery-retry") == log.level("delivery-expired") == {logging.WARNING}
    # no destination accepted the report: done all the same, at warning level
    assert [fields["delivered"] for fields in log.named("report-done")] == [0]
    assert log.level("report-done") == {logging.WARNING}
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
    [failed] = log.named("delivery-failed")
    assert failed["attempt"] == 1 and "550" in failed["error"]
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
    resolver = FakeResolver(TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND))
    log = Lines()
    summary = run(config, store, SEND_AT, trusting_post, resolver=resolver, log=log)
    assert resolver.calls == [DOMAIN]
    assert (summary.not_sent, summary.attempts, summary.rendered) == (1, 0, 0)
    assert event_count(store) == 0 and key_state(store) == ledger.DONE
    assert mail_server.recorder.messages == []
    result = sent_log(store)
    assert result is not None and result["outcome"] == "not sent"
    assert "not-found" in result["reason"]
    [not_sent] = log.named("report-not-sent")
    assert (not_sent["outcome"], not_sent["events_deleted"]) == ("no destinations", 3)
    assert log.level("report-not-sent") == {logging.INFO}


def test_record_destinations_are_used_when_events_carry_none(
        tmp_path: Path, store: SqliteEventStore, mail_server: Any,
        trusting_post: Callable[..., Any]) -> None:
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    store.add(events(destinations=None))
    resolver = FakeResolver(TlsrptRecordResult(TlsrptRecordOutcome.OK,
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
    tempfail = TlsrptRecordResult(TlsrptRecordOutcome.TEMPFAIL, reason="DNS error: timeout")
    resolver = FakeResolver(tempfail)
    summary = run(config, store, start, trusting_post, resolver=resolver)
    assert summary.deferred == 2 and summary.rendered == 0
    assert key_state(store) == ledger.OPEN
    row = store.ledger.key_row(DOMAIN, T0, END)
    assert row is not None and row.next_try == start + 300 and "timeout" in (row.last_error or "")
    assert summary.next_due == start + 300
    # not before 300 s
    assert run(config, store, start + 299, trusting_post, resolver=resolver).deferred == 0
    assert len(resolver.calls) == 2
    # example.org's record comes back; example.net's stays broken
    resolver = FakeResolver(tempfail, example_org=TlsrptRecordResult(
        TlsrptRecordOutcome.OK, destinations=("mailto:rua@example.org",)))
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
    assert [(fields["report"], fields["outcome"]) for fields in log.named("report-not-sent")] \
        == [(net_id, "record lookup failed")]
    assert log.level("report-not-sent") == {logging.WARNING}


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
    assert len(log.named("destination-suppressed")) == 5
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
    assert [fields["reason"].startswith("DKIM signature `rsa-example.com`")
            for fields in log.named("report-held")] == [True, True]
    assert log.level("report-held") == {logging.WARNING}
    row = store.ledger.key_row(DOMAIN, T0, END)
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
    [purged] = log.named("report-purged")
    assert purged["reason"].startswith("safety net: still HELD")
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
    mark = store.ledger.event_mark(DOMAIN, T0, END)
    store.add(events(prefix="new", successes=1, failures=0))
    assert not store.ledger.render(domain=DOMAIN, start=T0, end=END, report_id=REPORT_ID,
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
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "0 rendered, 0 held, 0 deferred, 0 not sent; 0 attempts: 0 delivered, 0 to retry, "
        "0 failed, 0 expired; 0 done, 0 events deleted"]
    assert main(["report", str(config_path), "--db", str(database), "--now",
                 "2024-05-07T02:49:42Z", "--log-level", "info"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    *logged, summary = captured.err.splitlines()
    # `time level event key=value ...`, one line per action
    assert [line.split(" ", 3)[1:3] for line in logged] == [
        ["warning", "report-not-signed"], ["info", "report-rendered"],
        ["info", "delivery-done"], ["info", "report-done"]]
    assert f"report={REPORT_ID} policies=1 successful=2 failed=1 json_bytes=" in logged[1]
    assert logged[1].endswith(' units=mailto:tls@example.org')
    assert 'destination=mailto:tls@example.org attempt=1 reply="250 ' in logged[2]
    assert logged[3].endswith(f"report={REPORT_ID} outcome=delivered delivered=1 units=1 "
                              "events_deleted=3")
    assert summary.startswith("1 rendered, 0 held")
    assert len(mail_server.recorder.messages) == 1
    assert main(["status", str(config_path), "--db", str(database)]) == 0
    assert f"{REPORT_ID}  DONE" in capsys.readouterr().out
    assert main(["report", str(config_path), "--db", str(database), "--out",
                 str(tmp_path)]) == 2


def test_logs_are_quiet_by_default_and_json_on_request(
        tmp_path: Path, mail_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "c.toml"
    write_config(config_path, relay_port=mail_server.port)
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as opened:
        opened.add(events())
        opened.add(events(domain="example.net", prefix="n"))
    # default level: warnings only (the unsigned reports), then the summary line
    assert main(["report", str(config_path), "--db", str(database), "--now",
                 str(SEND_AT + DAY)]) == 0
    quiet = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 3)[1:3] for line in quiet[:-1]] == [
        ["warning", "report-not-signed"]] * 2
    assert quiet[-1].startswith("2 rendered")
    with SqliteEventStore(database) as opened:
        opened.add(events(start=T0 + DAY, prefix="j"))
    assert main(["report", str(config_path), "--db", str(database), "--now",
                 str(SEND_AT + 2 * DAY), "--log-level", "info", "--log-format", "json"]) == 0
    *logged, summary = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in logged]
    assert [(entry["level"], entry["event"]) for entry in entries] == [
        ("warning", "report-not-signed"), ("info", "report-rendered"),
        ("info", "delivery-done"), ("info", "report-done")]
    rendered = entries[1]
    assert rendered["report"] == f"{T0 + DAY}_{END + DAY - 1}_{DOMAIN}"
    assert (rendered["policies"], rendered["successful"], rendered["failed"]) == (1, 2, 1)
    assert rendered["units"] == ["mailto:tls@example.org"]
    assert entries[3]["events_deleted"] == 3 and set(entries[3]) >= {"time", "level", "event"}
    assert summary.startswith("1 rendered")


def test_progress_of_a_long_pass_is_logged(tmp_path: Path, store: SqliteEventStore,
                                           mail_server: Any, trusting_post: Callable[..., Any],
                                           monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    from engine.reporting.send import scheduler

    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    for n in range(3):
        store.add(events(domain=f"d{n}.example", prefix=f"p{n}"))
    monkeypatch.setattr(scheduler, "PROGRESS_SECONDS", 0.0)  # every item, not every 5 s
    with caplog.at_level(logging.INFO, logger="tlsrpt"):
        summary = run(config, store, SEND_AT, trusting_post)
    assert summary.rendered == 3
    progress = [record.fields for record in caplog.records  # type: ignore[attr-defined]
                if record.getMessage() == "pass-progress"]
    assert [(p["step"], p["done"], p["total"]) for p in progress] == [
        ("render", 0, 3), ("render", 1, 3), ("render", 2, 3),
        ("deliver", 0, 3), ("deliver", 1, 3), ("deliver", 2, 3)]
    assert progress[-1]["rendered"] == 3 and progress[-1]["delivered"] == 2


def test_serve_delivers_and_stops_on_sigterm(tmp_path: Path, mail_server: Any) -> None:
    config_path = tmp_path / "c.toml"
    write_config(config_path, relay_port=mail_server.port)
    database = tmp_path / "tlsrpt.db"
    with SqliteEventStore(database) as opened:
        opened.add(events())                       # long overdue on the real clock
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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
    assert out == ""
    lines = err.splitlines()
    # quiet by default: the only warning (unsigned), and a summary line only for the pass
    # that did something (the later passes are silent)
    assert [line.split(" ", 3)[2] for line in lines if line[:4].isdigit()] == [
        "report-not-signed"]
    [summary] = [line for line in lines if not line[:4].isdigit()]
    assert summary.startswith("1 rendered") and "1 delivered" in summary \
        and "1 done, 3 events deleted" in summary
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
    outcomes = [DeliveryResult(DeliveryOutcome.TEMPORARY, "421 busy"),
                DeliveryResult(DeliveryOutcome.DELIVERED, "250 ok")]
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


def test_a_version_1_store_gains_the_ledger_and_counters(
        tmp_path: Path, mail_server: Any, trusting_post: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of schema 1 (one row per event) is upgraded in place: its events become the
    counters of schema 3 and give the same report as the events themselves."""
    import json

    from engine.reporting.store.sqlite import events as store_module
    from engine.reporting.send.build import build_from_counts, build_report

    database = tmp_path / "old.db"
    items = events()
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_MIGRATIONS", store_module._MIGRATIONS[:1])
        patch.setattr(store_module, "SCHEMA_VERSION", 1)
        with SqliteEventStore(database) as old, old.transaction() as db:
            # what schema 1's add() wrote: one row per event, the event as JSON
            db.executemany(
                "INSERT INTO event (event_id, report_domain, window_start, window_end, time, "
                "data) VALUES (?, ?, ?, ?, ?, ?)",
                [(ev.event_id, ev.report_domain, start, end, ev.time, json.dumps(ev.to_dict()))
                 for ev, start, end in items])
            tables = {name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "outbound" not in tables
    config = write_config(tmp_path / "c.toml", relay_port=mail_server.port)
    with SqliteEventStore(database) as upgraded:
        assert upgraded.connection.execute(
            "SELECT version FROM schema_version").fetchone() == (3,)
        assert upgraded.stats()["events"] == 3
        arguments: dict[str, Any] = {"domain": DOMAIN, "start": T0, "end": T0 + DAY,
                                     "organization_name": "Org", "contact_info": "a@b.example",
                                     "max_size": 0}
        assert build_from_counts(upgraded.counts(DOMAIN, T0, T0 + DAY), **arguments) == \
            build_report([ev for ev, _, _ in items], **arguments)
        assert upgraded.add(items[:1]) == 0  # the ids came along: still a duplicate
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
