"""The one render path of a report: counts -> JSON -> filename -> gzip -> message -> DKIM,
with the destination rules (send/destinations.py) applied on the way.

`render_key` is what the scheduler's RENDER step decides for one (domain, window) and what
`tlsrpt report --dry-run` shows; it changes nothing (no store, no ledger, no network: the
TLSRPT record is asked of the caller's `lookup`). The caller acts on the `KeyRender` it
returns: the scheduler stores and delivers a ready report, the dry run writes its files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from engine.config.config import Config
from engine.config.sections import DeliverySettings
from engine.config.signatures import SignatureConfig, signature_ids
from engine.reporting.counts import WindowCounts
from engine.reporting.send.build import BuiltReport, build_from_counts, filename
from engine.reporting.send.destinations import (
    DestinationPlan,
    plan_destinations,
    skipped_as_all_success,
)
from engine.reporting.send.message import build_message, compress
from engine.reporting.sign import SigningError, sign_message

__all__ = ["KeyRender", "Lookup", "NotLookedUp", "Rendered", "render_key"]


Status = Literal["ready", "held", "not sent", "deferred"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A report ready to store and deliver: the JSON, its filename, the gzip payload and the
    signed message (None when no unit is a mail unit)."""

    report_id: str
    json: bytes
    filename: str
    payload: bytes
    message: bytes | None
    mail_from: str | None
    unsigned: bool           # `sign` is empty: the message carries no DKIM signature


@dataclass(frozen=True, slots=True)
class KeyRender:
    """What becomes of one key: `ready` (with `rendered`), `held` (kept, tried again by the
    next pass), `not sent` (finished without sending: `outcome` says why in a word or two) or
    `deferred` (the record lookup failed temporarily). `plan` is the destination plan once
    destinations are known; `record_looked_up` is False when the events carried no
    destination and the caller did not look the TLSRPT record up (a dry run)."""

    status: Status
    built: BuiltReport | None = None
    plan: DestinationPlan | None = None
    rendered: Rendered | None = None
    outcome: str = ""
    reason: str = ""
    error: bool = False
    record_looked_up: bool = True


class NotLookedUp:
    """`lookup`'s answer when the TLSRPT record is not asked for (a dry run)."""


#: the record's destinations, a final `KeyRender` (deferred, not sent) or NotLookedUp
Lookup = Callable[[], "Sequence[str] | KeyRender | NotLookedUp"]


def render_key(config: Config, counts: WindowCounts, domain: str, start: int, end: int,
               settings: DeliverySettings, now: int, lookup: Lookup) -> KeyRender:
    """Build the report of window [start, end) of `domain` from `counts` and decide where it
    goes; `now` is the message's Date."""
    aggregate = config.tls_aggregate(domain)
    submitter = config.submitter(domain)
    contact = aggregate.contact_info or f"postmaster@{submitter}"
    try:
        built = build_from_counts(counts, domain=domain, start=start, end=end,
                                  organization_name=aggregate.org_name, contact_info=contact,
                                  max_size=aggregate.max_size)
        name = filename(submitter, domain, start, end, settings.unique_id)
    except ValueError as err:
        return KeyRender("held", reason=f"cannot build the report: {err}")
    if built.oversize or built.json is None:
        return KeyRender("not sent", built, outcome="oversize",
                         reason="larger than max-size even without failure details")
    if skipped_as_all_success(settings.send_all_success, counts.failures):
        return KeyRender("not sent", built, outcome="no failures",
                         reason="only successful sessions and send-all-success is false")

    looked_up = True
    destinations: Sequence[str] = built.destinations or ()
    if not destinations:
        found = lookup()
        if isinstance(found, KeyRender):
            return KeyRender(found.status, built, outcome=found.outcome, reason=found.reason,
                             error=found.error)
        if isinstance(found, NotLookedUp):
            looked_up = False
        else:
            destinations = found
    plan = plan_destinations(destinations, max_destinations=settings.max_destinations,
                             suppress=settings.suppress, bcc=settings.bcc)
    if looked_up and not plan.units:
        return KeyRender("not sent", built, plan, outcome="no destinations",
                         reason="no usable destination" + (
                             " left after suppression" if plan.considered else ""))

    payload = compress(built.json, settings.compression_level)
    message: bytes | None = None
    if plan.addressed:
        try:
            unsigned = build_message(
                payload_gz=payload, report_id=built.report_id, report_domain=domain,
                submitter=submitter, from_name=aggregate.from_name,
                from_address=aggregate.from_address, recipients=plan.addressed, filename=name,
                date=now)
        except ValueError as err:
            return KeyRender("held", built, plan, reason=f"cannot build the message: {err}",
                             record_looked_up=looked_up)
        sections = signature_ids(config.values)
        signatures = [SignatureConfig(identifier, sections.get(identifier, {}))
                      for identifier in aggregate.sign]
        try:
            message = sign_message(unsigned, signatures)
        except SigningError as err:
            return KeyRender("held", built, plan, reason=str(err), record_looked_up=looked_up)
    rendered = Rendered(built.report_id, built.json, name, payload, message,
                        aggregate.from_address if plan.addressed else None,
                        unsigned=message is not None and not aggregate.sign)
    return KeyRender("ready", built, plan, rendered, record_looked_up=looked_up)
