"""The destination rules of a report (RFC 8460 3, 4.3; docs/reporting.md, "Delivery").

Pure functions over resolved settings, shared by the scheduler and the dry run so that both
decide alike: `max-destinations` caps the list, `suppress` removes some, the rest becomes
*delivery units* (one mail unit for every `mailto:` recipient, one unit per `https:` URI) and
the operator's `bcc` copy is a unit of its own. `send-all-success = false` skips a report
without failures altogether.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from engine.reporting.store import ledger

__all__ = ["DestinationPlan", "mailto_address", "plan_destinations", "skipped_as_all_success",
           "suppressed"]


@dataclass(frozen=True, slots=True)
class DestinationPlan:
    """Where one report goes.

    `suppressed` pairs each removed destination with the `suppress` entry that removed it;
    `unsupported` lists destinations of another scheme (neither `mailto:` nor `https:`).
    `units` are (kind, target) pairs as the ledger stores them, the bcc copy (if any) last;
    `copies` are the bcc addresses of that copy; `addressed` are the `To:` of the message
    (the domain's recipients, or the copies when the domain takes no mail)."""

    considered: tuple[str, ...]
    suppressed: tuple[tuple[str, str], ...]
    unsupported: tuple[str, ...]
    recipients: tuple[str, ...]
    https: tuple[str, ...]
    copies: tuple[str, ...]
    units: tuple[tuple[str, str], ...]

    @property
    def addressed(self) -> tuple[str, ...]:
        return self.recipients or self.copies

    @property
    def domain_units(self) -> bool:
        """True when the report domain itself gets the report (the bcc copy alone is not a
        reason to send: without a destination of the domain's, nothing is sent)."""
        return bool(self.recipients or self.https)


def mailto_address(uri: str) -> str | None:
    """The address of a `mailto:` URI (its query, if any, dropped), or None."""
    if not uri.lower().startswith("mailto:"):
        return None
    address = unquote(uri[len("mailto:"):].split("?", 1)[0]).strip()
    return address or None


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


def skipped_as_all_success(send_all_success: bool, failures: int) -> bool:
    """True when `send-all-success = false` keeps a report without failures from being sent."""
    return not send_all_success and not failures


def plan_destinations(destinations: Sequence[str], *, max_destinations: int,
                      suppress: Sequence[str], bcc: Sequence[str]) -> DestinationPlan:
    """Apply `max-destinations`, `suppress` and `bcc` to a report's destinations."""
    considered = tuple(destinations[:max(max_destinations, 0)])
    removed: list[tuple[str, str]] = []
    unsupported: list[str] = []
    recipients: list[str] = []
    https: list[str] = []
    units: list[tuple[str, str]] = []
    mail_index: int | None = None
    for uri in considered:
        entry = suppressed(uri, suppress)
        if entry is not None:
            removed.append((uri, entry))
            continue
        address = mailto_address(uri)
        if address is not None:
            if address not in recipients:
                recipients.append(address)
            if mail_index is None:
                # the mail unit keeps the place of the first mailto: destination
                mail_index = len(units)
                units.append((ledger.MAIL, ""))
        elif uri.lower().startswith("https:"):
            if uri not in https:
                https.append(uri)
                units.append((ledger.HTTPS, uri))
        else:
            unsupported.append(uri)
    if mail_index is not None:
        units[mail_index] = (ledger.MAIL, ledger.mail_target(recipients))
    # The operator's copy: its own unit (a failing copy never holds the report back), only
    # when the domain itself gets the report.
    copies = [address for address in bcc if address not in recipients] if units else []
    if copies:
        units.append((ledger.MAIL, ledger.mail_target(copies)))
    return DestinationPlan(considered, tuple(removed), tuple(unsupported), tuple(recipients),
                           tuple(https), tuple(copies), tuple(units))
