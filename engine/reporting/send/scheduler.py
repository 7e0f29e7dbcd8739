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
   7 days` after its window ended is finished without further attempts, with a
   `report-purged` error event), and sent-log rows and frozen markers past
   `sent-log-retention` are forgotten.

Every action is a structured log event (`Action`, written through `engine.log`; the names
and fields are listed in docs/reporting.md, "Logging"): info for what goes as planned,
warning for failures, give-ups and held reports, error for what should not happen.

One pass at a time per store file: a pass holds an exclusive `flock` on `<db>-scheduler.lock`
(the kernel drops it when the process dies, even by SIGKILL, so a crashed pass never blocks
the next one); a pass that finds it taken does nothing and says so. This is the "one worker
per report key" rule of spec 6.4.

Crash safety (spec 6.4): every step above is one transaction, so a pass killed at any point
leaves either the step done or not done. Killed after a successful submission but before its
result was stored, the unit is sent again by the next pass with the same bytes (at-least-once;
receivers de-duplicate by report-id).

Crash-test seam: `run_once(checkpoint=...)` is called with the name of each step in
CHECKPOINT_STEPS as the pass reaches it -- `after-sign` (the message is signed, nothing is
stored yet), `after-render` (the RENDER transaction has committed), `mid-delivery` (a unit was
delivered, its result is not stored yet) and `before-delete` (every unit is final, the DONE
transaction has not started) -- so that a test can stop the process exactly there and kill it
(tests/reporting/send/test_crash.py). It has no other use; the default does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from engine import log as structured_log
from engine.config.config import Config
from engine.config.sections import DeliverySettings
from engine.reporting.send import deliver
from engine.reporting.store import ledger
from engine.reporting.send.build import report_id
from engine.reporting.send.deliver import DeliveryOutcome, DeliveryResult, RelaySettings
from engine.reporting.send.render import KeyRender, render_key
from engine.reporting.store.interface import EventStore
from engine.reporting.tlsrpt_record import TlsrptRecordOutcome
from engine.reporting.tlsrpt_record import TlsrptRecordResult
from engine.reporting.window import rfc3339

__all__ = ["Action", "RunSummary", "backoff", "jitter", "run_once", "send_at"]

CHECKPOINT_STEPS: Final = ("after-sign", "after-render", "mid-delivery", "before-delete")
#: spec 6.1: a TEMPFAIL record lookup is tried again after this many seconds
LOOKUP_RETRY: Final = 300
#: spec 6.1 backoff: 300 s doubling, at most 4 h
BACKOFF_FIRST: Final = 300
BACKOFF_MAX: Final = 14400
#: spec 6.2 safety net: keys still not DONE this long after delay + retry-max-age
SAFETY_MARGIN: Final = 7 * 86400
#: a RENDER whose events changed meanwhile is retried this often in the same pass
RENDER_TRIES: Final = 3
#: a pass with many reports logs `pass-progress` at most this often (seconds)
PROGRESS_SECONDS: Final = 5.0

class Resolver(Protocol):
    def lookup(self, domain: str) -> TlsrptRecordResult: ...


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


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a pass did, as a structured log event (docs/reporting.md, "Logging"): a
    stable `event` name, a `logging` level and fields. `report` is in every per-report event."""

    level: int
    event: str
    fields: dict[str, Any]

    def __str__(self) -> str:
        """`event key=value ...`, as the text log format writes it (handy in tests)."""
        parts = [self.event]
        for key, value in self.fields.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{key}={text}")
        return " ".join(parts)



@dataclass
class RunSummary:
    """What one pass did: the counts, and `actions`, every structured log event of the pass
    in order (also written to the `tlsrpt` logger and given to `run_once`'s `log`)."""

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
    actions: list[Action] = field(default_factory=list)

    def events(self, name: str) -> list[Action]:
        """The actions called `name`, in order."""
        return [action for action in self.actions if action.event == name]

    @property
    def problems(self) -> bool:
        return bool(self.held or self.failed or self.expired or self.purged or self.errors)


class _Pass:
    """The state of one `run_once` call."""

    def __init__(self, config: Config, store: EventStore, now: int,
                 resolver: Resolver | None, send_mail: SendMail, post_report: PostReport,
                 log: Callable[[Action], None] | None, stop: Callable[[], bool],
                 checkpoint: Callable[[str], None]) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.resolver = resolver
        self.send_mail = send_mail
        self.post_report = post_report
        self.log = log
        self.stop = stop
        self.checkpoint = checkpoint
        self.summary = RunSummary()
        self._settings: dict[str, DeliverySettings] = {}
        self._relay: RelaySettings | str | None = None

    # -- helpers ----------------------------------------------------------------------------

    def say(self, level: int, event: str, **fields: Any) -> None:
        action = Action(level, event, fields)
        self.summary.actions.append(action)
        structured_log.log(level, event, **fields)
        if self.log is not None:
            self.log(action)

    def settings(self, domain: str) -> DeliverySettings:
        found = self._settings.get(domain)
        if found is None:
            found = self._settings[domain] = self.config.delivery(domain)
        return found

    def relay(self) -> RelaySettings | str:
        """The relay, or why there is none usable (read once per pass)."""
        if self._relay is None:
            try:
                self._relay = RelaySettings.from_values(self.config.values)
            except ValueError as err:
                self._relay = str(err)
        return self._relay

    def lookup(self, domain: str) -> TlsrptRecordResult:
        if self.resolver is None:
            from engine.reporting.tlsrpt_record import RecordResolver

            # the per-domain max-destinations cap is applied by the caller
            self.resolver = RecordResolver(max_destinations=1000)
        try:
            return self.resolver.lookup(domain)
        except ValueError as err:  # not a valid domain for DNS
            return TlsrptRecordResult(TlsrptRecordOutcome.INVALID, reason=str(err))

    # -- 1. RENDER --------------------------------------------------------------------------

    def render_due(self) -> None:
        windows = self.store.due_windows(self.now)
        progress = _Progress("render", len(windows))
        for index, (domain, start, end) in enumerate(windows):
            if self.stop():
                self.summary.stopped = True
                return
            progress.tick(index, self.summary)
            settings = self.settings(domain)
            key_id = report_id(domain, start, end)
            due = end + jitter(key_id, settings.delay)
            if self.now < due:
                continue
            row = self.store.ledger.key_row(domain, start, end)
            if row is not None and row.state == ledger.OPEN and row.next_try is not None \
                    and self.now < row.next_try:
                continue
            try:
                for _ in range(RENDER_TRIES):
                    if self.render(domain, start, end, key_id, due, settings):
                        break
            except self.store.database_errors:  # the store is broken: stop the pass
                raise
            except Exception as err:  # noqa: BLE001 - one bad key must not stop the others
                self.summary.errors += 1
                self.say(logging.ERROR, "report-render-error", report=key_id,
                         error=f"{type(err).__name__}: {err}")

    def render(self, domain: str, start: int, end: int, key_id: str, due: int,
               settings: DeliverySettings) -> bool:
        """Render one key; False when its events changed meanwhile (render it again)."""
        mark = self.store.ledger.event_mark(domain, start, end)
        counts = self.store.counts(domain, start, end)
        if not counts.policies:
            return True
        decided = render_key(self.config, counts, domain, start, end, settings, self.now,
                             lambda: self.record_destinations(domain, due, settings))
        if decided.plan is not None:
            for uri, entry in decided.plan.suppressed:
                self.say(logging.INFO, "destination-suppressed", report=key_id,
                         destination=uri, entry=entry)
            for uri in decided.plan.unsupported:
                self.say(logging.INFO, "destination-skipped", report=key_id, destination=uri,
                         reason="only mailto: and https: are supported")
        if decided.status == "held":
            self.hold(domain, start, end, key_id, due, decided.reason)
            return True
        if decided.status == "not sent":
            self.not_sent(domain, start, end, key_id, due, decided.outcome, decided.reason,
                          error=decided.error)
            return True
        if decided.status == "deferred":
            retry = self.now + LOOKUP_RETRY
            self.store.ledger.note_key(domain=domain, start=start, end=end,
                                       report_id=key_id, state=ledger.OPEN, send_at=due,
                                       next_try=retry, error=decided.reason, now=self.now)
            self.summary.deferred += 1
            self.say(logging.INFO, "report-deferred", report=key_id, reason=decided.reason,
                     next_try=rfc3339(retry))
            return True
        rendered, plan, built = decided.rendered, decided.plan, decided.built
        assert rendered is not None and plan is not None and built is not None
        if rendered.unsigned:
            self.say(logging.WARNING, "report-not-signed", report=key_id,
                     reason="report.tls.aggregate.sign is empty: the message is not signed "
                            "and receivers must ignore it (RFC 8460 3)")
        if rendered.message is not None:
            self.checkpoint("after-sign")
        units = list(plan.units)
        if not self.store.ledger.render(domain=domain, start=start, end=end,
                                        report_id=key_id, send_at=due, mark=mark,
                                        filename=rendered.filename, json_bytes=rendered.json,
                                        payload=rendered.payload, message=rendered.message,
                                        mail_from=rendered.mail_from, units=units, now=self.now):
            return False
        self.summary.rendered += 1
        self.say(logging.INFO, "report-rendered", report=key_id, policies=built.policies,
                 successful=built.successes, failed=built.failures,
                 json_bytes=len(rendered.json),
                 units=[_unit_name(kind, target) for kind, target in units])
        self.checkpoint("after-render")
        return True

    def record_destinations(self, domain: str, due: int,
                            settings: DeliverySettings) -> Sequence[str] | KeyRender:
        """The TLSRPT record's destinations, or what to do when it gives none."""
        record = self.lookup(domain)
        if record.outcome is TlsrptRecordOutcome.TEMPFAIL:
            reason = f"TLSRPT record lookup failed temporarily ({record.reason})"
            if self.now >= due + settings.retry_max_age:
                return KeyRender("not sent", outcome="record lookup failed",
                                 reason=f"{reason}; gave up after retry-max-age "
                                        f"({settings.retry_max_age} s)", error=True)
            return KeyRender("deferred", reason=reason)
        if record.outcome is not TlsrptRecordOutcome.OK:
            detail = f": {record.reason}" if record.reason else ""
            return KeyRender("not sent", outcome="no destinations",
                             reason=f"no destination in the events and the TLSRPT record "
                                    f"lookup gave {record.outcome.value}{detail}")
        return list(record.destinations)

    def hold(self, domain: str, start: int, end: int, key_id: str, due: int,
             reason: str) -> None:
        self.store.ledger.note_key(domain=domain, start=start, end=end, report_id=key_id,
                                   state=ledger.HELD, send_at=due, next_try=None, error=reason,
                                   now=self.now)
        self.summary.held += 1
        # its events are kept and every later pass tries again
        self.say(logging.WARNING, "report-held", report=key_id, reason=reason)

    def not_sent(self, domain: str, start: int, end: int, key_id: str, due: int,
                 outcome: str, reason: str, *, error: bool = False) -> None:
        result = {"outcome": "not sent", "reason": f"{outcome}: {reason}", "units": []}
        deleted = self.store.ledger.finish(domain=domain, start=start, end=end,
                                           report_id=key_id, send_at=due, result=result,
                                           now=self.now)
        self.summary.not_sent += 1
        self.summary.events_deleted += deleted
        self.say(logging.WARNING if error else logging.INFO, "report-not-sent", report=key_id,
                 outcome=outcome, reason=reason, events_deleted=deleted)

    # -- 2. DELIVER -------------------------------------------------------------------------

    def deliver_due(self) -> None:
        units = self.store.ledger.due_units(self.now)
        progress = _Progress("deliver", len(units))
        for index, due in enumerate(units):
            if self.stop():
                self.summary.stopped = True
                return
            progress.tick(index, self.summary)
            self.attempt(due)

    def attempt(self, due: ledger.DueUnit) -> None:
        unit = due.unit
        settings = self.settings(due.domain)
        result = self.try_unit(due, settings)
        self.summary.attempts += 1
        attempt = unit.attempts + 1
        first = unit.first_attempt if unit.first_attempt is not None else self.now
        next_attempt: int | None = None
        fields: dict[str, Any] = {"report": unit.report_id,
                                  "destination": _unit_name(unit.kind, unit.target),
                                  "attempt": attempt}
        if result.outcome is DeliveryOutcome.DELIVERED:
            self.checkpoint("mid-delivery")
            status, level, event = ledger.DELIVERED, logging.INFO, "delivery-done"
            fields["reply"] = result.detail
            self.summary.delivered += 1
        elif result.outcome is DeliveryOutcome.PERMANENT:
            # a permanent failure is not retried
            status, level, event = ledger.FAILED, logging.WARNING, "delivery-failed"
            fields["error"] = result.detail
            self.summary.failed += 1
        else:
            later = self.now + backoff(attempt)
            fields["error"] = result.detail
            if later > first + settings.retry_max_age:
                status, level, event = ledger.EXPIRED, logging.WARNING, "delivery-expired"
                fields["retry_max_age"] = settings.retry_max_age
                self.summary.expired += 1
            else:
                status, level, event = ledger.PENDING, logging.WARNING, "delivery-retry"
                next_attempt = later
                fields["next_attempt"] = rfc3339(later)
                self.summary.retrying += 1
        self.store.ledger.record_attempt(unit, status=status, at=self.now,
                                         next_attempt=next_attempt, error=result.detail)
        self.say(level, event, **fields)

    def try_unit(self, due: ledger.DueUnit, settings: DeliverySettings) -> DeliveryResult:
        unit = due.unit
        try:
            if unit.kind == ledger.MAIL:
                if due.message is None:
                    return DeliveryResult(DeliveryOutcome.PERMANENT, "no stored message")
                relay = self.relay()
                if isinstance(relay, str):
                    return DeliveryResult(DeliveryOutcome.TEMPORARY,
                                          f"no usable SMTP relay ([report.relay]): {relay}")
                return self.send_mail(relay, mail_from=due.mail_from or "",
                                      recipients=list(unit.recipients), message=due.message)
            return self.post_report(unit.target, due.payload, timeout=settings.https_timeout,
                                    verify=settings.https_verify)
        except Exception as err:  # noqa: BLE001 - a delivery bug is a temporary failure
            return DeliveryResult(DeliveryOutcome.TEMPORARY, f"{type(err).__name__}: {err}")

    # -- 3. DONE ----------------------------------------------------------------------------

    def finish_done(self) -> None:
        for key in self.store.ledger.finishable():
            if self.stop():
                self.summary.stopped = True
                return
            units = self.store.ledger.units_of(key.report_id)
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
            self.checkpoint("before-delete")
        deleted = self.store.ledger.finish(domain=key.domain, start=key.start, end=key.end,
                                           report_id=key.report_id, send_at=key.send_at,
                                           result=result, now=self.now)
        self.summary.events_deleted += deleted
        if purged:
            return
        self.summary.done += 1
        # no destination accepted the report: its events are gone all the same (spec 6.2)
        self.say(logging.INFO if delivered else logging.WARNING, "report-done",
                 report=key.report_id, outcome=outcome, delivered=delivered, units=len(units),
                 events_deleted=deleted)

    # -- 4. housekeeping --------------------------------------------------------------------

    def safety_net(self) -> None:
        """spec 6.2: keys still not DONE long after their window are finished, loudly."""
        for key in self.store.ledger.key_rows((ledger.OPEN, ledger.HELD, ledger.DELIVERING)):
            settings = self.settings(key.domain)
            limit = key.end + settings.delay + settings.retry_max_age + SAFETY_MARGIN
            if self.now <= limit:
                continue
            reason = (f"safety net: still {key.state} {self.now - key.end} s after the window "
                      f"ended (limit delay + retry-max-age + 7 days)")
            units = self.store.ledger.units_of(key.report_id)
            self.finish(key, units, purged=reason + (f"; last error: {key.last_error}"
                                                     if key.last_error else ""))
            self.summary.purged += 1
            # its events were deleted without a complete delivery
            self.say(logging.ERROR, "report-purged", report=key.report_id, reason=reason)

    def forget_old(self) -> None:
        old = [(key.domain, key.start, key.end)
               for key in self.store.ledger.key_rows((ledger.DONE,))
               if key.updated_at < self.now - self.settings(key.domain).sent_log_retention]
        if old:
            self.store.ledger.purge_done(old)
        # frozen markers keep late events out; they outlive the sent-log rows
        default = self.settings("")
        self.store.purge_frozen(self.now - default.sent_log_retention - default.delay
                                - default.retry_max_age)

    def next_due(self) -> int | None:
        """The earliest future send time, unit attempt or deferred lookup. Keys that are due
        but could not be rendered (HELD, or an error) are not counted: they are tried again
        at every pass, and a loop should not spin on them."""
        times = [self.store.ledger.next_due()]
        for domain, start, end in self.store.due_windows(2 ** 62):
            due = end + jitter(report_id(domain, start, end), self.settings(domain).delay)
            if due > self.now:
                times.append(due)
        found = [t for t in times if t is not None]
        return min(found) if found else None


def _unit_name(kind: str, target: str) -> str:
    return ledger.destination_text(kind, target)




class _Progress:
    """`pass-progress` info events during a long step: at most one per PROGRESS_SECONDS,
    and only once a step has taken that long (short passes log nothing extra)."""

    def __init__(self, step: str, total: int) -> None:
        self._step = step
        self._total = total
        self._last = time.monotonic()

    def tick(self, done: int, summary: RunSummary) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        structured_log.info("pass-progress", step=self._step, done=done, total=self._total,
                            rendered=summary.rendered, delivered=summary.delivered)


def run_once(config: Config, store: EventStore, now: int, *,
             resolver: Resolver | None = None,
             send_mail: SendMail = deliver.send_mail,
             post_report: PostReport = deliver.post_report,
             log: Callable[[Action], None] | None = None,
             stop: Callable[[], bool] | None = None,
             checkpoint: Callable[[str], None] | None = None) -> RunSummary:
    """One scheduler pass at time `now` (Unix seconds): render, deliver, finish, tidy.

    `resolver` looks up TLSRPT records (default: a `RecordResolver` on the system's DNS);
    `send_mail` and `post_report` are `engine.reporting.send.deliver`'s unless replaced; every
    action is a structured log event (engine.log, logger `tlsrpt`), kept in the summary's
    `actions` and also given to `log` when set; `stop()` is checked between keys and units and
    ends the pass early when true (the rest is done by the next pass); `checkpoint(step)` is
    the crash-test seam (module documentation)."""
    work = _Pass(config, store, now, resolver, send_mail, post_report, log,
                 stop or (lambda: False), checkpoint or (lambda step: None))
    with store.run_lock() as mine:
        if not mine:
            work.summary.busy = True
            work.say(logging.WARNING, "pass-busy", store=store.location,
                     reason="another scheduler pass is running on this store; nothing done")
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
