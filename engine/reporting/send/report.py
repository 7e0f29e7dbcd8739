"""`tlsrpt report --dry-run`: the scheduler's RENDER decision with a file transport.

Every closed window (its send time not waited for) goes through `render.render_key`, the
same code a real pass runs, so `max-destinations`, `suppress`, `bcc` and `send-all-success`
apply alike. A ready report's `.json.gz` and signed `.eml` are written to a folder instead
of being stored and sent; nothing in the store or its ledger changes. The TLSRPT record is
not looked up (a dry run works offline): a report whose events carried no destination is
written without a message, and its output says the record decides at send time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.config.config import Config
from engine.reporting.send.build import report_id
from engine.reporting.send.render import KeyRender, NotLookedUp, render_key
from engine.reporting.store.interface import EventStore

__all__ = ["DryRunReport", "detail_lines", "dry_run", "summary_line", "write_dry_run"]


@dataclass(frozen=True, slots=True)
class DryRunReport:
    """One window's decision, as a real pass would take it."""

    domain: str
    report_id: str
    decided: KeyRender


def dry_run(config: Config, store: EventStore, now: int) -> Iterator[DryRunReport]:
    """Every window closed by `now` that holds events, oldest first."""
    for domain, start, end in store.due_windows(now):
        counts = store.counts(domain, start, end)
        if not counts.policies:
            continue
        decided = render_key(config, counts, domain, start, end, config.delivery(domain),
                             now, NotLookedUp)
        yield DryRunReport(domain, report_id(domain, start, end), decided)


def write_dry_run(report: DryRunReport, out: Path) -> list[Path]:
    """Write a ready report's `.json.gz` and signed `.eml` into `out`; returns the paths."""
    rendered = report.decided.rendered
    if rendered is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = [out / rendered.filename]
    written[0].write_bytes(rendered.payload)
    if rendered.message is not None:
        written.append(out / (rendered.report_id + ".eml"))
        written[1].write_bytes(rendered.message)
    return written


def summary_line(report: DryRunReport) -> str:
    """`<report-id>: <status>; <what the report holds>, <n> destinations`."""
    decided = report.decided
    if decided.status == "ready":
        status = "ready"
    elif decided.status == "held":
        status = f"HELD ({decided.reason})"
    else:
        status = f"NOT SENT ({decided.outcome}: {decided.reason})"
    built = decided.built
    if built is None:
        return f"{report.report_id}: {status}"
    size = len(built.json) if built.json is not None else 0
    plan = decided.plan
    destinations = len(plan.recipients) + len(plan.https) if plan is not None else 0
    return (f"{report.report_id}: {status}; {built.policies} "
            f"polic{'y' if built.policies == 1 else 'ies'}, {built.successes} successful and "
            f"{built.failures} failed sessions, {size} bytes of JSON, {destinations} "
            f"destination{'s' * (destinations != 1)}")


def detail_lines(report: DryRunReport) -> list[str]:
    """Indented lines under the summary: where the report would go and what was left out."""
    decided = report.decided
    plan = decided.plan
    lines: list[str] = []
    if not decided.record_looked_up:
        lines.append(f"  to: the TLSRPT record of {report.domain}, looked up at send time "
                     f"(not in a dry run)")
    if plan is None:
        return lines
    targets = [f"mailto:{address}" for address in plan.recipients] + list(plan.https)
    if targets:
        lines.append("  to: " + ", ".join(targets))
    for uri, entry in plan.suppressed:
        lines.append(f"  suppressed: {uri} (suppress entry {entry})")
    for uri in plan.unsupported:
        lines.append(f"  skipped: {uri} (only mailto: and https: are supported)")
    if plan.copies:
        lines.append("  bcc: " + ", ".join(f"mailto:{address}" for address in plan.copies)
                     + " (a copy of its own)")
    return lines
