"""`tlsrpt report`: build every closed window's report, package it, sign it.

For each (domain, window) the store says is due, the domain's settings come typed from the
configuration; the events become the RFC 8460 JSON (bounded by max-size), gzip, the
multipart/report message and its DKIM signatures. `--dry-run` writes the signed `.eml` and the
`.json.gz` to a folder and changes nothing in the store; delivery (and deleting events once
every destination is final) belongs to the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from engine.config.config import Config
from engine.config.signatures import SignatureConfig, signature_ids
from engine.reporting.send.build import BuiltReport, build_from_counts, filename
from engine.reporting.send.message import build_message, compress
from engine.reporting.sign import SigningError, sign_message
from engine.reporting.store.sqlite.events import EventStore


@dataclass(frozen=True, slots=True)
class PreparedReport:
    """One window's report, ready to deliver (or held, with the reason)."""

    domain: str
    start: int
    end: int
    built: BuiltReport
    filename: str
    payload: bytes | None          # the gzipped JSON
    message: bytes | None          # the signed email (None: no mail destination, or held)
    mail_recipients: tuple[str, ...]
    https_destinations: tuple[str, ...]
    held: str | None = None        # why the report cannot be sent now


def mailto_address(uri: str) -> str | None:
    """The address of a `mailto:` URI (its query, if any, dropped), or None."""
    if not uri.lower().startswith("mailto:"):
        return None
    address = unquote(uri[len("mailto:"):].split("?", 1)[0]).strip()
    return address or None


def prepare(config: Config, store: EventStore, domain: str, start: int, end: int,
            now: int) -> PreparedReport:
    settings = config.tls_aggregate(domain)
    submitter = config.submitter(domain)
    contact = settings.contact_info or f"postmaster@{submitter}"
    built = build_from_counts(store.counts(domain, start, end), domain=domain, start=start,
                              end=end, organization_name=settings.org_name,
                              contact_info=contact, max_size=settings.max_size)
    delivery = config.delivery(domain)
    name = filename(submitter, domain, start, end, delivery.unique_id)
    if built.oversize or built.json is None:
        return PreparedReport(domain, start, end, built, name, None, None, (), (),
                              held="larger than max-size even without failure details")
    # No event carried destinations: the TLSRPT record is looked up by the scheduler, so a
    # dry run has none to show.
    destinations = list(built.destinations or ())[:delivery.max_destinations]
    recipients = tuple(address for address in map(mailto_address, destinations) if address)
    https = tuple(uri for uri in destinations if uri.lower().startswith("https:"))
    payload = compress(built.json, delivery.compression_level)
    if not recipients:
        return PreparedReport(domain, start, end, built, name, payload, None, recipients, https)
    message = build_message(payload_gz=payload, report_id=built.report_id, report_domain=domain,
                            submitter=submitter, from_name=settings.from_name,
                            from_address=settings.from_address, recipients=recipients,
                            filename=name, date=now)
    sections = signature_ids(config.values)
    signatures = [SignatureConfig(identifier, sections.get(identifier, {}))
                  for identifier in settings.sign]
    try:
        signed = sign_message(message, signatures)
    except SigningError as err:
        return PreparedReport(domain, start, end, built, name, payload, None, recipients, https,
                              held=str(err))
    return PreparedReport(domain, start, end, built, name, payload, signed, recipients, https)


def prepare_due(config: Config, store: EventStore, now: int) -> Iterator[PreparedReport]:
    """Every report whose window has closed by `now`, oldest first."""
    for domain, start, end in store.due_windows(now):
        yield prepare(config, store, domain, start, end, now)


def write_dry_run(report: PreparedReport, out: Path) -> list[Path]:
    """Write the report's `.json.gz` and signed `.eml` into `out`; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if report.payload is not None:
        path = out / report.filename
        path.write_bytes(report.payload)
        written.append(path)
    if report.message is not None:
        path = out / (report.built.report_id + ".eml")
        path.write_bytes(report.message)
        written.append(path)
    return written


def summary_line(report: PreparedReport) -> str:
    built = report.built
    status = f"HELD ({report.held})" if report.held else "ready"
    size = len(built.json) if built.json is not None else 0
    destinations = len(report.mail_recipients) + len(report.https_destinations)
    return (f"{built.report_id}: {status}; {built.policies} "
            f"polic{'y' if built.policies == 1 else 'ies'}, {built.successes} successful and "
            f"{built.failures} failed sessions, {size} bytes of JSON, {destinations} "
            f"destination{'s' * (destinations != 1)}")
