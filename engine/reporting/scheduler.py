"""The scheduler: render due reports, deliver them with retries, finish them
(spec/reporting.md 5.2, 6.1-6.5).

`run_once(config, store, now)` is one pass, the same for a cron job (`tlsrpt report`) and the
long-running loop (`tlsrpt serve`). A pass, in this order:

1. RENDER every window that has closed, holds events, is not frozen and whose
   `send_at = window_end + J` has passed, where J = (first 8 bytes of SHA-256(report-id),
   big-endian) mod (`delay` + 1). Destinations are the events' own, else the report domain's
   TLSRPT record (OK: its URIs; TEMPFAIL: try again after 300 s, give up once
   `retry-max-age` has passed since `send_at`; anything else: not sent). `max-destinations`
   caps them, `suppress` removes some (logged), `send-all-success = false` skips reports
   without failures, an OVERSIZE report is not sent. The email is built and DKIM-signed now;
   when a signature is missing or unusable the key is HELD: nothing is stored or sent, its
   events stay, and every later pass tries again (so fixing the configuration is enough) --
   a report is never sent unsigned. Otherwise one transaction stores the outbound record (the
   gzip payload and the signed message), its units (`pending`) and freezes the window.
2. DELIVER every pending unit whose `next_attempt` has passed: the mail unit (all `mailto:`
   recipients, one message) through `[report.relay]`, each https URI by its own POST. Success:
   `delivered`; permanent failure: `failed`; temporary failure of attempt k: next attempt at
   `now + min(300 * 2**(k-1), 14400)`, or `expired` when that is later than
   `first_attempt + retry-max-age`. Each result is committed right after its attempt. Retries
   send the stored bytes, never a re-render.
3. DONE: a rendered key whose every unit is final has its events and outbound record deleted
   and a sent-log row written, in one transaction. Keys that are not sent at all (no
   destination, no failures with send-all-success = false, OVERSIZE, a record lookup given up)
   end the same way, without an outbound record.
4. Housekeeping: the safety net of spec 6.2 (a key still not DONE `delay + retry-max-age +
   7 days` after its window ended is finished without further attempts, with an error line),
   and sent-log rows and frozen markers past `sent-log-retention` are forgotten.

One pass at a time per store file: a pass holds an exclusive `flock` on `<db>-scheduler.lock`
(the kernel drops it when the process dies, even by SIGKILL, so a crashed pass never blocks
the next one); a pass that finds it taken does nothing and says so. This is the "one worker
per report key" rule of spec 6.4.

Crash safety (spec 6.4): every step above is one transaction, so a pass killed at any point
leaves either the step done or not done. Killed after a successful submission but before its
result was stored, the unit is sent again by the next pass with the same bytes (at-least-once;
receivers de-duplicate by report-id).

Test hook: when the environment variable `TLSRPT_TEST_PAUSE_AT` names a step --
`after-sign` (the message is signed, nothing is stored yet), `after-render` (the RENDER
transaction has committed), `mid-delivery` (a unit was delivered, its result is not stored
yet) or `before-delete` (every unit is final, the DONE transaction has not started) -- the
process writes `TLSRPT_TEST_PAUSE_AT: paused at <step>` to standard error and sleeps
(`TLSRPT_TEST_PAUSE_SECONDS`, default 600) the first time it reaches that step, so that a test
can kill it exactly there (tests/reporting/test_crash.py). It has no other use.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from engine.config.config import Config
from engine.config.signatures import SignatureConfig, signature_ids
from engine.reporting import deliver, ledger
from engine.reporting.build import build_report, filename, report_id
from engine.reporting.deliver import DeliveryResult, Outcome, RelaySettings
from engine.reporting.message import build_message, compress
from engine.reporting.report import mailto_address
from engine.reporting.sign import SigningError, sign_message
from engine.reporting.store import SqliteEventStore
from engine.reporting.tlsrpt_record import Outcome as RecordOutcome
from engine.reporting.tlsrpt_record import RecordResult
from engine.reporting.window import rfc3339

__all__ = ["RunSummary", "backoff", "jitter", "ledger_rows", "run_once", "send_at"]

PAUSE_ENV: Final = "TLSRPT_TEST_PAUSE_AT"
PAUSE_SECONDS_ENV: Final = "TLSRPT_TEST_PAUSE_SECONDS"
PAUSE_STEPS: Final = ("after-sign", "after-render", "mid-delivery", "before-delete")
#: spec 6.1: a TEMPFAIL record lookup is tried again after this many seconds
LOOKUP_RETRY: Final = 300
#: spec 6.1 backoff: 300 s doubling, at most 4 h
BACKOFF_FIRST: Final = 300
BACKOFF_MAX: Final = 14400
#: spec 6.2 safety net: keys still not DONE this long after delay + retry-max-age
SAFETY_MARGIN: Final = 7 * 86400
#: a RENDER whose events changed meanwhile is retried this often in the same pass
RENDER_TRIES: Final = 3
_TLS: Final = "report.tls.aggregate."

_logger = logging.getLogger("engine.reporting.scheduler")
_paused: set[str] = set()


class Resolver(Protocol):
    def lookup(self, domain: str) -> RecordResult: ...


SendMail = Callable[..., DeliveryResult]
PostReport = Callable[..., DeliveryResult]


# --- the formulas of spec 6.1 --------------------------------------------------------------


def jitter(report_id_: str, delay: int) -> int:
    """J of spec 6.1: the first 8 bytes of SHA-256(report-id), big-endian, mod (delay + 1)."""
    digest = hashlib.sha256(report_id_.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (max(int(delay), 0) + 1)


def send_at(domain: str, start: int, end: int, delay: int) -> int:
    """When the report of window [start, end) of `domain` is rendered: end + J."""
    return end + jitter(report_id(domain, start, end), delay)


def backoff(attempt: int) -> int:
    """Seconds from temporary failure number `attempt` (1, 2, ...) to the next attempt."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    return int(min(BACKOFF_FIRST * 2 ** min(attempt - 1, 16), BACKOFF_MAX))


# --- results -------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What one pass did. `lines` are the action lines, in order (also sent to `log`)."""

    rendered: int = 0
    held: int = 0
    deferred: int = 0            # record lookup TEMPFAIL: rendering postponed
    not_sent: int = 0            # DONE without sending (no destinations, no failures, ...)
    attempts: int = 0
    delivered: int = 0
    retrying: int = 0            # temporary failures that will be retried
    failed: int = 0
    expired: int = 0
    done: int = 0                # rendered reports finished (events deleted)
    events_deleted: int = 0
    purged: int = 0              # safety net (spec 6.2)
    errors: int = 0              # unexpected errors (the key is left as it was)
    busy: bool = False           # another pass held the lock: nothing was done
    stopped: bool = False        # `stop()` asked to end the pass early
    next_due: int | None = None  # the earliest time something will be due
    lines: list[str] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.held or self.failed or self.expired or self.purged or self.errors)


@dataclass(frozen=True, slots=True)
class _DomainSettings:
    delay: int
    retry_max_age: int
    send_all_success: bool
    suppress: tuple[str, ...]
    bcc: tuple[str, ...]
    max_destinations: int
    compression_level: int
    unique_id: str | None
    https_timeout: int
    https_verify: bool
    retention: int


class _Pass:
    """The state of one `run_once` call."""

    def __init__(self, config: Config, store: SqliteEventStore, now: int,
                 resolver: Resolver | None, send_mail: SendMail, post_report: PostReport,
                 log: Callable[[str], None], stop: Callable[[], bool]) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.resolver = resolver
        self.send_mail = send_mail
        self.post_report = post_report
        self.log = log
        self.stop = stop
        self.summary = RunSummary()
        self._settings: dict[str, _DomainSettings] = {}
        self._relay: RelaySettings | str | None = None

    # -- helpers ----------------------------------------------------------------------------

    def say(self, line: str) -> None:
        self.summary.lines.append(line)
        self.log(line)

    def settings(self, domain: str) -> _DomainSettings:
        found = self._settings.get(domain)
        if found is None:
            variables = {"rcpt_domain": domain}

            def typed(name: str) -> Any:
                return self.config.typed(_TLS + name, variables)[0]

            unique = typed("unique-id")
            found = _DomainSettings(
                delay=max(int(typed("delay")), 0),
                retry_max_age=max(int(typed("retry-max-age")), 0),
                send_all_success=bool(typed("send-all-success")),
                suppress=tuple(str(item) for item in typed("suppress") or ()),
                bcc=tuple(str(item) for item in typed("bcc") or ()),
                max_destinations=max(int(typed("max-destinations")), 0),
                compression_level=min(max(int(typed("compression-level")), 1), 9),
                unique_id=str(unique) if unique else None,
                https_timeout=max(int(typed("https-timeout")), 1),
                https_verify=bool(typed("https-verify")),
                retention=max(int(typed("sent-log-retention")), 0))
            self._settings[domain] = found
        return found

    def relay(self) -> RelaySettings | str:
        """The relay, or why there is none usable (read once per pass)."""
        if self._relay is None:
            try:
                self._relay = RelaySettings.from_values(self.config.values)
            except ValueError as err:
                self._relay = str(err)
        return self._relay

    def lookup(self, domain: str) -> RecordResult:
        if self.resolver is None:
            from engine.reporting.tlsrpt_record import RecordResolver

            # the per-domain max-destinations cap is applied by the caller
            self.resolver = RecordResolver(max_destinations=1000)
        try:
            return self.resolver.lookup(domain)
        except ValueError as err:  # not a valid domain for DNS
            return RecordResult(RecordOutcome.INVALID, reason=str(err))

    # -- 1. RENDER --------------------------------------------------------------------------

    def render_due(self) -> None:
        for domain, start, end in self.store.due_windows(self.now):
            if self.stop():
                self.summary.stopped = True
                return
            settings = self.settings(domain)
            key_id = report_id(domain, start, end)
            due = end + jitter(key_id, settings.delay)
            if self.now < due:
                continue
            row = ledger.key_row(self.store, domain, start, end)
            if row is not None and row.state == ledger.OPEN and row.next_try is not None \
                    and self.now < row.next_try:
                continue
            try:
                for _ in range(RENDER_TRIES):
                    if self.render(domain, start, end, key_id, due, settings):
                        break
            except sqlite3.Error:
                raise
            except Exception as err:  # noqa: BLE001 - one bad key must not stop the others
                self.summary.errors += 1
                self.say(f"{key_id}: error while rendering: {type(err).__name__}: {err}")

    def render(self, domain: str, start: int, end: int, key_id: str, due: int,
               settings: _DomainSettings) -> bool:
        """Render one key; False when its events changed meanwhile (render it again)."""
        mark = ledger.event_mark(self.store, domain, start, end)
        events = self.store.events(domain, start, end)
        if not events:
            return True
        aggregate = self.config.tls_aggregate(domain)
        submitter = self.config.submitter(domain)
        contact = aggregate.contact_info or f"postmaster@{submitter}"
        try:
            built = build_report(events, domain=domain, start=start, end=end,
                                 organization_name=aggregate.org_name, contact_info=contact,
                                 max_size=aggregate.max_size)
            name = filename(submitter, domain, start, end, settings.unique_id)
        except ValueError as err:
            self.hold(domain, start, end, key_id, due, f"cannot build the report: {err}")
            return True
        if built.oversize or built.json is None:
            self.not_sent(domain, start, end, key_id, due, "oversize",
                          "larger than max-size even without failure details")
            return True
        if not settings.send_all_success and all(event.success for event in events):
            self.not_sent(domain, start, end, key_id, due, "no failures",
                          "only successful sessions and send-all-success is false")
            return True

        destinations = list(built.destinations or ())
        if not destinations:
            record = self.lookup(domain)
            if record.outcome is RecordOutcome.TEMPFAIL:
                reason = f"TLSRPT record lookup failed temporarily ({record.reason})"
                if self.now >= due + settings.retry_max_age:
                    self.not_sent(domain, start, end, key_id, due, "record lookup failed",
                                  f"{reason}; gave up after retry-max-age "
                                  f"({settings.retry_max_age} s)", error=True)
                    return True
                retry = self.now + LOOKUP_RETRY
                ledger.note_key(self.store, domain=domain, start=start, end=end,
                                report_id=key_id, state=ledger.OPEN, send_at=due,
                                next_try=retry, error=reason, now=self.now)
                self.summary.deferred += 1
                self.say(f"{key_id}: deferred: {reason}; next try at {rfc3339(retry)}")
                return True
            if record.outcome is not RecordOutcome.OK:
                detail = f": {record.reason}" if record.reason else ""
                self.not_sent(domain, start, end, key_id, due, "no destinations",
                              f"no destination in the events and the TLSRPT record lookup "
                              f"gave {record.outcome.value}{detail}")
                return True
            destinations = list(record.destinations)
        destinations = destinations[:settings.max_destinations]

        kept: list[str] = []
        for uri in destinations:
            entry = suppressed(uri, settings.suppress)
            if entry is None:
                kept.append(uri)
            else:
                self.say(f"{key_id}: {uri} suppressed (report.tls.aggregate.suppress: {entry})")
        recipients: list[str] = []
        units: list[tuple[str, str]] = []
        mail_index: int | None = None
        for uri in kept:
            address = mailto_address(uri)
            if address is not None:
                if address not in recipients:
                    recipients.append(address)
                if mail_index is None:
                    mail_index = len(units)
                    units.append((ledger.MAIL, ""))
            elif uri.lower().startswith("https:"):
                if (ledger.HTTPS, uri) not in units:
                    units.append((ledger.HTTPS, uri))
            else:
                self.say(f"{key_id}: {uri} skipped (only mailto: and https: are supported)")
        if mail_index is not None:
            units[mail_index] = (ledger.MAIL, ledger.mail_target(recipients))
        if not units:
            self.not_sent(domain, start, end, key_id, due, "no destinations",
                          "no usable destination" + (" left after suppression"
                                                     if destinations else ""))
            return True

        # The operator's copy: its own unit (a failing copy never holds the report back) with
        # the same message; when the domain takes no mail, the message is addressed to the copy.
        copies = [address for address in settings.bcc if address not in recipients]
        if copies:
            units.append((ledger.MAIL, ledger.mail_target(copies)))
        addressed = recipients or copies

        payload = compress(built.json, settings.compression_level)
        message: bytes | None = None
        if addressed:
            try:
                unsigned = build_message(
                    payload_gz=payload, report_id=key_id, report_domain=domain,
                    submitter=submitter, from_name=aggregate.from_name,
                    from_address=aggregate.from_address, recipients=addressed, filename=name,
                    date=self.now)
            except ValueError as err:
                self.hold(domain, start, end, key_id, due, f"cannot build the message: {err}")
                return True
            if not aggregate.sign:
                self.say(f"{key_id}: warning: report.tls.aggregate.sign is empty: the message "
                         "is not signed and receivers must ignore it (RFC 8460 3)")
            sections = signature_ids(self.config.values)
            signatures = [SignatureConfig(identifier, sections.get(identifier, {}))
                          for identifier in aggregate.sign]
            try:
                message = sign_message(unsigned, signatures)
            except SigningError as err:
                self.hold(domain, start, end, key_id, due, str(err))
                return True
            _pause("after-sign")

        if not ledger.render(self.store, domain=domain, start=start, end=end,
                             report_id=key_id, send_at=due, mark=mark, filename=name,
                             json_bytes=built.json, payload=payload, message=message,
                             mail_from=aggregate.from_address if addressed else None,
                             units=units, now=self.now):
            return False
        self.summary.rendered += 1
        shown = ", ".join(_unit_name(kind, target) for kind, target in units)
        self.say(f"{key_id}: rendered ({built.policies} polic{'y' if built.policies == 1 else 'ies'}"
                 f", {built.successes} successful and {built.failures} failed sessions, "
                 f"{len(built.json)} bytes of JSON); {len(units)} delivery "
                 f"unit{'s' * (len(units) != 1)}: {shown}")
        _pause("after-render")
        return True

    def hold(self, domain: str, start: int, end: int, key_id: str, due: int,
             reason: str) -> None:
        ledger.note_key(self.store, domain=domain, start=start, end=end, report_id=key_id,
                        state=ledger.HELD, send_at=due, next_try=None, error=reason,
                        now=self.now)
        self.summary.held += 1
        self.say(f"{key_id}: HELD, not sent: {reason}; its events are kept and the next run "
                 "tries again")

    def not_sent(self, domain: str, start: int, end: int, key_id: str, due: int,
                 outcome: str, reason: str, *, error: bool = False) -> None:
        deleted = ledger.finish(self.store, domain=domain, start=start, end=end,
                                report_id=key_id, send_at=due,
                                result={"outcome": "not sent", "reason": f"{outcome}: {reason}",
                                        "units": []}, now=self.now)
        self.summary.not_sent += 1
        self.summary.events_deleted += deleted
        prefix = "error: " if error else ""
        self.say(f"{key_id}: {prefix}DONE without sending ({outcome}: {reason}); "
                 f"{deleted} event{'s' * (deleted != 1)} deleted")

    # -- 2. DELIVER -------------------------------------------------------------------------

    def deliver_due(self) -> None:
        for due in ledger.due_units(self.store, self.now):
            if self.stop():
                self.summary.stopped = True
                return
            self.attempt(due)

    def attempt(self, due: ledger.DueUnit) -> None:
        unit = due.unit
        settings = self.settings(due.domain)
        name = _unit_name(unit.kind, unit.target)
        result = self.try_unit(due, settings)
        self.summary.attempts += 1
        attempt = unit.attempts + 1
        first = unit.first_attempt if unit.first_attempt is not None else self.now
        next_attempt: int | None = None
        if result.outcome is Outcome.DELIVERED:
            _pause("mid-delivery")
            status = ledger.DELIVERED
            text = f"delivered ({result.detail})"
            self.summary.delivered += 1
        elif result.outcome is Outcome.PERMANENT:
            status = ledger.FAILED
            text = f"FAILED, permanent failure ({result.detail}); not retried"
            self.summary.failed += 1
        else:
            later = self.now + backoff(attempt)
            if later > first + settings.retry_max_age:
                status = ledger.EXPIRED
                text = (f"EXPIRED after {attempt} attempt{'s' * (attempt != 1)} "
                        f"(retry-max-age {settings.retry_max_age} s; last error: "
                        f"{result.detail})")
                self.summary.expired += 1
            else:
                status = ledger.PENDING
                next_attempt = later
                text = (f"temporary failure ({result.detail}); attempt {attempt + 1} at "
                        f"{rfc3339(later)} (+{later - self.now} s)")
                self.summary.retrying += 1
        ledger.record_attempt(self.store, unit, status=status, at=self.now,
                              next_attempt=next_attempt, error=result.detail)
        self.say(f"{unit.report_id} {name}: attempt {attempt}: {text}")

    def try_unit(self, due: ledger.DueUnit, settings: _DomainSettings) -> DeliveryResult:
        unit = due.unit
        try:
            if unit.kind == ledger.MAIL:
                if due.message is None:
                    return DeliveryResult(Outcome.PERMANENT, "no stored message")
                relay = self.relay()
                if isinstance(relay, str):
                    return DeliveryResult(Outcome.TEMPORARY,
                                          f"no usable SMTP relay ([report.relay]): {relay}")
                return self.send_mail(relay, mail_from=due.mail_from or "",
                                      recipients=list(unit.recipients), message=due.message)
            return self.post_report(unit.target, due.payload, timeout=settings.https_timeout,
                                    verify=settings.https_verify)
        except Exception as err:  # noqa: BLE001 - a delivery bug is a temporary failure
            return DeliveryResult(Outcome.TEMPORARY, f"{type(err).__name__}: {err}")

    # -- 3. DONE ----------------------------------------------------------------------------

    def finish_done(self) -> None:
        for key in ledger.finishable(self.store):
            if self.stop():
                self.summary.stopped = True
                return
            units = ledger.units_of(self.store, key.report_id)
            self.finish(key, units)

    def finish(self, key: ledger.KeyRow, units: Sequence[ledger.UnitRow], *,
               purged: str | None = None) -> None:
        delivered = sum(unit.status == ledger.DELIVERED for unit in units)
        if not units:
            outcome = "not sent"
        elif delivered == len(units):
            outcome = "delivered"
        elif delivered:
            outcome = "partly delivered"
        else:
            outcome = "not delivered"
        result: dict[str, Any] = {"outcome": outcome, "units": [
            {"kind": unit.kind, "target": unit.target, "status": unit.status,
             "attempts": unit.attempts, "first_attempt": unit.first_attempt,
             "last_attempt": unit.last_attempt, "last_error": unit.last_error}
            for unit in units]}
        if purged:
            result["reason"] = purged
        if not purged:
            _pause("before-delete")
        deleted = ledger.finish(self.store, domain=key.domain, start=key.start, end=key.end,
                                report_id=key.report_id, send_at=key.send_at, result=result,
                                now=self.now)
        self.summary.events_deleted += deleted
        if purged:
            return
        self.summary.done += 1
        prefix = "error: no destination accepted the report; " if not delivered else ""
        self.say(f"{key.report_id}: {prefix}DONE, {outcome} ({delivered} of {len(units)} "
                 f"unit{'s' * (len(units) != 1)}); {deleted} event{'s' * (deleted != 1)} "
                 "deleted")

    # -- 4. housekeeping --------------------------------------------------------------------

    def safety_net(self) -> None:
        """spec 6.2: keys still not DONE long after their window are finished, loudly."""
        for key in ledger.key_rows(self.store, (ledger.OPEN, ledger.HELD, ledger.DELIVERING)):
            settings = self.settings(key.domain)
            limit = key.end + settings.delay + settings.retry_max_age + SAFETY_MARGIN
            if self.now <= limit:
                continue
            reason = (f"safety net: still {key.state} {self.now - key.end} s after the window "
                      f"ended (limit delay + retry-max-age + 7 days)")
            units = ledger.units_of(self.store, key.report_id)
            self.finish(key, units, purged=reason + (f"; last error: {key.last_error}"
                                                     if key.last_error else ""))
            self.summary.purged += 1
            self.say(f"{key.report_id}: error: purged by the {reason}; its events were deleted "
                     "without a complete delivery")

    def forget_old(self) -> None:
        old = [(key.domain, key.start, key.end)
               for key in ledger.key_rows(self.store, (ledger.DONE,))
               if key.updated_at < self.now - self.settings(key.domain).retention]
        if old:
            ledger.purge_done(self.store, old)
        # frozen markers keep late events out; they outlive the sent-log rows
        default = self.settings("")
        self.store.purge_frozen(self.now - default.retention - default.delay
                                - default.retry_max_age)

    def next_due(self) -> int | None:
        """The earliest future send time, unit attempt or deferred lookup. Keys that are due
        but could not be rendered (HELD, or an error) are not counted: they are tried again
        at every pass, and a loop should not spin on them."""
        times = [ledger.next_due(self.store)]
        for domain, start, end in self.store.due_windows(2 ** 62):
            due = end + jitter(report_id(domain, start, end), self.settings(domain).delay)
            if due > self.now:
                times.append(due)
        found = [t for t in times if t is not None]
        return min(found) if found else None


def suppressed(uri: str, entries: Sequence[str]) -> str | None:
    """The `suppress` entry that removes destination `uri`, or None.

    An entry with a scheme (`mailto:`, `https:`) is a URI prefix (compared without regard to
    case); one with `@` is an address (a `mailto:` destination's address, case-insensitive);
    anything else is a domain: it removes mail addresses and https hosts in that domain or
    below it."""
    lowered = uri.lower()
    address = mailto_address(uri)
    host: str | None = None
    if address is not None:
        host = address.rpartition("@")[2].lower().rstrip(".")
    elif lowered.startswith("https:"):
        from urllib.parse import urlsplit

        try:
            host = (urlsplit(uri).hostname or "").rstrip(".") or None
        except ValueError:
            host = None
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        folded = entry.lower()
        if folded.startswith(("mailto:", "https:", "http:")):
            if lowered.startswith(folded):
                return entry
        elif "@" in folded:
            if address is not None and address.lower() == folded:
                return entry
        else:
            domain = folded.strip(".")
            if host is not None and (host == domain or host.endswith("." + domain)):
                return entry
    return None


def _unit_name(kind: str, target: str) -> str:
    return ledger.destination_text(kind, target)


def _pause(step: str) -> None:
    """The crash-test hook (see the module documentation)."""
    if os.environ.get(PAUSE_ENV) != step or step in _paused:
        return
    _paused.add(step)
    print(f"{PAUSE_ENV}: paused at {step}", file=sys.stderr, flush=True)
    time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "600")))


@contextlib.contextmanager
def _run_lock(store: SqliteEventStore) -> Iterator[bool]:
    """Hold `<db>-scheduler.lock` exclusively (flock); yields False when another pass has it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield True
        return
    descriptor = os.open(f"{store.path}-scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock


def _default_log(line: str) -> None:
    _logger.info("%s", line)


def run_once(config: Config, store: SqliteEventStore, now: int, *,
             resolver: Resolver | None = None,
             send_mail: SendMail = deliver.send_mail,
             post_report: PostReport = deliver.post_report,
             log: Callable[[str], None] = _default_log,
             stop: Callable[[], bool] | None = None) -> RunSummary:
    """One scheduler pass at time `now` (Unix seconds): render, deliver, finish, tidy.

    `resolver` looks up TLSRPT records (default: a `RecordResolver` on the system's DNS);
    `send_mail` and `post_report` are `engine.reporting.deliver`'s unless replaced; `log`
    receives every action line; `stop()` is checked between keys and units and ends the pass
    early when true (the rest is done by the next pass)."""
    work = _Pass(config, store, now, resolver, send_mail, post_report, log,
                 stop or (lambda: False))
    with _run_lock(store) as mine:
        if not mine:
            work.summary.busy = True
            work.say("another scheduler pass is running on this store; nothing done")
            return work.summary
        work.safety_net()
        work.render_due()
        if not work.summary.stopped:
            work.deliver_due()
        if not work.summary.stopped:
            work.finish_done()
        if not work.summary.stopped:
            work.forget_old()
        work.summary.next_due = work.next_due()
    return work.summary


def ledger_rows(store: SqliteEventStore, config: Config | None = None) -> list[ledger.LedgerRow]:
    """The ledger for `tlsrpt status`: every report the scheduler knows, and (with `config`,
    which gives `delay`) every window that still waits for its send time."""
    waiting: list[tuple[str, int, int, str, int | None]] = []
    for domain, start, end in store.due_windows(2 ** 62):
        key_id = report_id(domain, start, end)
        due = None
        if config is not None:
            delay = config.typed(_TLS + "delay", {"rcpt_domain": domain})[0]
            due = end + jitter(key_id, max(int(delay), 0))
        waiting.append((domain, start, end, key_id, due))
    return ledger.ledger_rows(store, waiting)
