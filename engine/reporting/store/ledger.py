"""The delivery ledger's records and states, whatever the backend (spec 6.1, 6.4, 6.6).

The ledger says what the scheduler rendered, where each copy went and what is left to do. Its
operations are the `Ledger` protocol (`engine.reporting.store.interface`); this module holds the
values that cross it, so that the scheduler and `tlsrpt status` never see a database row:

* a report key (one (domain, window) the scheduler has looked at) is OPEN (waiting, e.g. its
  TLSRPT record lookup failed temporarily: `next_try`), HELD (a DKIM signature is missing or
  unusable: re-rendered at every run, never sent unsigned), DELIVERING (rendered; units in
  progress) or DONE (finished; kept with its sent-log entry for `sent-log-retention`). A window
  without a key is OPEN and untouched;
* a delivery unit (spec 5.2) is the mail group or one https URI, `pending`, `delivered`,
  `failed` (permanent) or `expired` (retry-max-age);
* the sent log keeps, for each DONE key, the reason and each unit's result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DELIVERED", "DELIVERING", "DONE", "DueUnit", "EXPIRED", "FAILED", "FINAL_UNIT_STATES",
    "HELD", "HTTPS", "KEY_STATES", "KeyRow", "LedgerSnapshot", "MAIL", "OPEN", "PENDING",
    "UNIT_STATES", "UnitRow", "destination_text", "mail_target",
]

# report key states
OPEN: Final = "OPEN"
HELD: Final = "HELD"
DELIVERING: Final = "DELIVERING"
DONE: Final = "DONE"
KEY_STATES: Final = (OPEN, HELD, DELIVERING, DONE)

# unit states
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
EXPIRED: Final = "expired"
UNIT_STATES: Final = (PENDING, DELIVERED, FAILED, EXPIRED)
FINAL_UNIT_STATES: Final = frozenset({DELIVERED, FAILED, EXPIRED})

# unit kinds
MAIL: Final = "mail"
HTTPS: Final = "https"


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One report key as the ledger keeps it."""

    domain: str
    start: int
    end: int
    report_id: str
    state: str
    send_at: int
    next_try: int | None
    tries: int
    last_error: str | None
    updated_at: int


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One delivery unit of a rendered report."""

    report_id: str
    idx: int
    kind: str
    target: str                    # the https URI, or the mail recipients as a JSON array
    status: str
    attempts: int
    first_attempt: int | None
    last_attempt: int | None
    next_attempt: int | None
    last_error: str | None

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(json.loads(self.target)) if self.kind == MAIL else ()


@dataclass(frozen=True, slots=True)
class DueUnit:
    """A pending unit whose time has come, with the stored bytes it must send."""

    unit: UnitRow
    domain: str
    start: int
    end: int
    payload: bytes
    message: bytes | None
    mail_from: str | None


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """Everything the ledger holds, read in one consistent transaction (`tlsrpt status`):
    keys in (end, domain, start) order, units by report id in unit order, and the sent log as
    report id -> (result, done_at)."""

    keys: tuple[KeyRow, ...]
    units: Mapping[str, Sequence[UnitRow]]
    sent_log: Mapping[str, tuple[Mapping[str, Any], int]]


def destination_text(kind: str, target: str) -> str:
    """A unit's destination as a person reads it: `mailto:a, mailto:b` or the https URI."""
    if kind == MAIL:
        return ", ".join("mailto:" + address for address in json.loads(target))
    return target


def mail_target(recipients: Sequence[str]) -> str:
    """The `target` of a mail unit: its recipients, as a JSON array."""
    return json.dumps(list(recipients), ensure_ascii=False)
