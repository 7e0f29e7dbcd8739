"""Analysis of incoming TLS reports (spec/reporting.md 7.2-7.7), without the CLI.

`analyze_bytes(data)` decides the container by magic bytes only (gzip, zip, JSON, otherwise an
RFC 5322 message whose MIME tree `analysis_mime` walks within the part, depth, header and
decoded-size limits), decompresses in bounded chunks that stop at the limits of 7.4, validates
the JSON (7.5, `analysis_schema`), authenticates emailed reports (7.6, `analysis_auth`: DKIM
required by default) and adds the consistency warnings of 7.7. Every failure is an `Analysis`
with status "rejected" and one of the codes of 7.8; nothing raises.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Final

from engine.reporting.analysis.auth import Authentication, DkimOutcome, authenticate
from engine.reporting.analysis.limits import (
    AUTH_FAILED, DECOMPRESS_ERROR, JSON_SYNTAX, LIMIT_EXCEEDED, NOT_A_REPORT, SCHEMA_ERROR,
    Limits, Rejected, Finding,
)
from engine.reporting.analysis.mime import Entity, candidates, decoded_body, parse_entity
from engine.reporting.analysis.schema import (
    ParsedDetail, ParsedPolicy, ParsedReport, is_json, parse_json, validate,
)

__all__ = [
    "AUTH_FAILED", "DECOMPRESS_ERROR", "JSON_SYNTAX", "LIMIT_EXCEEDED", "NOT_A_REPORT",
    "SCHEMA_ERROR", "Analysis", "Authentication", "Limits", "MessageFacts", "ParsedDetail",
    "ParsedPolicy", "ParsedReport", "Finding", "analyze_bytes",
]

DnsFunc = Callable[..., bytes | None]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_HEADER_LINE: Final = re.compile(rb"[!-9;-~]+[ \t]*:")
# RFC 8460 5.1: sender!policy-domain!begin!end[!unique-id].json[.gz]
_FILENAME: Final = re.compile(r"[^!]+!([^!]+)!(\d+)!(\d+)(?:![A-Za-z0-9]+)?\.json(?:\.gz)?",
                              re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """Header fields of an emailed report that the store keeps (spec 7.8), unfolded."""

    sender: str | None              # From
    to: str | None
    subject: str | None
    message_id: str | None
    date: str | None
    submitter: str | None           # TLS-Report-Submitter
    report_domain: str | None       # TLS-Report-Domain
    return_path: str | None         # the envelope sender, when the delivering MTA added it


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of one input. `code` is None when accepted; `errors` lists every schema
    problem found (the first one is `reason`/`path`); `container` is the chain of layers
    read, outermost first, e.g. ("email", "gzip", "json")."""

    status: str                               # "accepted" | "rejected"
    code: str | None
    reason: str | None
    warnings: tuple[Finding, ...]
    report: ParsedReport | None
    container: tuple[str, ...]
    path: str | None = None                   # JSON path of the first error (SCHEMA_ERROR)
    errors: tuple[Finding, ...] = ()
    dkim: tuple[bool, ...] = ()               # per DKIM-Signature, topmost first (email only)
    facts: MessageFacts | None = None         # emails only
    dkim_outcome: DkimOutcome | None = None   # emails whose report was read

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(slots=True)
class _Context:
    limits: Limits
    warnings: list[Finding] = field(default_factory=list)
    errors: tuple[Finding, ...] = ()


def analyze_bytes(data: bytes, *, limits: Limits = Limits(), dnsfunc: DnsFunc | None = None,
                  auth: Authentication = Authentication()) -> Analysis:
    """Analyse one raw input (a file, an HTTPS body, or a whole RFC 5322 message). `auth`
    applies to emails only (spec 7.6); DNS for DKIM goes through `dnsfunc` (the system
    resolver when None)."""
    context = _Context(limits)
    if len(data) > limits.max_input:
        return _rejected(Rejected(LIMIT_EXCEEDED, f"input of {len(data)} bytes exceeds "
                                                  f"{limits.max_input}"), context, ())
    if data[:2] == _GZIP_MAGIC or data[:4] == _ZIP_MAGIC or is_json(data):
        try:
            report, chain = _payload(data, context)
        except Rejected as rejection:
            return _rejected(rejection, context, _chain_of(data))
        return Analysis("accepted", None, None, tuple(context.warnings), report, chain)
    if _HEADER_LINE.match(data) is None:
        return _rejected(Rejected(NOT_A_REPORT, "neither gzip, zip, JSON nor an RFC 5322 "
                                                "message"), context, ())
    return _analyze_message(data, context, dnsfunc, auth)


# --- containers (7.3) ---------------------------------------------------------------------

def _chain_of(data: bytes) -> tuple[str, ...]:
    if data[:2] == _GZIP_MAGIC:
        return ("gzip",)
    if data[:4] == _ZIP_MAGIC:
        return ("zip",)
    return ("json",)


def _payload(data: bytes, context: _Context) -> tuple[ParsedReport, tuple[str, ...]]:
    """A gzip, zip or JSON payload (containers inside containers are not supported)."""
    if data[:2] == _GZIP_MAGIC:
        chain: tuple[str, ...] = ("gzip", "json")
        data = _gunzip(data, context)
    elif data[:4] == _ZIP_MAGIC:
        chain = ("zip", "json")
        data = _unzip(data, context)
    else:
        chain = ("json",)
    if not is_json(data):
        raise Rejected(NOT_A_REPORT if chain == ("json",) else JSON_SYNTAX,
                       "the content does not start with `{`")
    value = parse_json(data, context.limits)
    report, warnings, errors = validate(value, context.limits)
    context.warnings.extend(warnings)
    if report is None:
        context.errors = errors
        first = errors[0] if errors else Finding("$", "invalid report")
        raise Rejected(SCHEMA_ERROR, first.message, first.path)
    return report, chain


def _inflate(data: bytes, start: int, stop: int, limits: Limits,
             decompressor: Any) -> tuple[bytes, int]:
    """Feed data[start:stop] to `decompressor` in chunks, never producing more than the cap
    (plus one chunk) and stopping early on the expansion ratio. Returns (output, the index in
    `data` just after the compressed stream)."""
    out: list[bytes] = []
    produced = 0
    position = start
    pending = b""
    while not decompressor.eof:
        if not pending:
            if position >= stop:
                raise Rejected(DECOMPRESS_ERROR, "truncated compressed stream (no end marker)")
            pending = data[position:min(position + limits.chunk, stop)]
            position += len(pending)
        try:
            piece = decompressor.decompress(pending, limits.chunk)
        except zlib.error as error:
            raise Rejected(DECOMPRESS_ERROR, f"corrupt deflate data: {error}") from None
        pending = decompressor.unconsumed_tail
        produced += len(piece)
        consumed = position - start - len(pending)
        if produced > limits.max_decompressed:
            raise Rejected(LIMIT_EXCEEDED, f"decompressed size exceeds "
                                           f"{limits.max_decompressed} bytes")
        if produced > limits.ratio_floor and produced > limits.max_ratio * max(consumed, 1):
            raise Rejected(LIMIT_EXCEEDED, f"expansion ratio above {limits.max_ratio}:1 "
                                           f"({produced} bytes from {consumed})")
        out.append(piece)
    end = position - len(pending) - len(decompressor.unused_data)
    return b"".join(out), end


def _gunzip(data: bytes, context: _Context) -> bytes:
    """Exactly one gzip member (RFC 1952); trailing bytes are ignored with a warning."""
    if len(data) < 10 or data[2] != 8:
        raise Rejected(DECOMPRESS_ERROR, "gzip header truncated or method is not deflate")
    flags = data[3]
    if flags & 0xE0:
        raise Rejected(DECOMPRESS_ERROR, "gzip header has reserved flags set")
    position = 10
    try:
        if flags & 4:  # FEXTRA
            (size,) = struct.unpack_from("<H", data, position)
            position += 2 + size
        for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                end = data.index(b"\0", position)
                position = end + 1
        if flags & 2:  # FHCRC
            position += 2
    except (struct.error, ValueError):
        raise Rejected(DECOMPRESS_ERROR, "gzip header truncated") from None
    if position > len(data):
        raise Rejected(DECOMPRESS_ERROR, "gzip header truncated")
    output, end = _inflate(data, position, len(data), context.limits,
                           zlib.decompressobj(-zlib.MAX_WBITS))
    trailer = data[end:end + 8]
    if len(trailer) < 8:
        raise Rejected(DECOMPRESS_ERROR, "gzip trailer (CRC-32, size) missing: truncated")
    crc, size = struct.unpack("<II", trailer)
    if crc != zlib.crc32(output) & 0xFFFFFFFF or size != len(output) & 0xFFFFFFFF:
        raise Rejected(DECOMPRESS_ERROR, "gzip CRC-32 or size mismatch")
    if len(data) > end + 8:
        context.warnings.append(Finding("$", f"{len(data) - end - 8} bytes after the gzip "
                                             f"member ignored"))
    return output


def _unzip(data: bytes, context: _Context) -> bytes:
    """The first `.json` entry (else the first entry) among the first 16 of the central
    directory; the declared size is checked before and the cap again while inflating."""
    import io
    import zipfile

    limits = context.limits
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()[:limits.max_zip_entries]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise Rejected(DECOMPRESS_ERROR, f"unreadable zip archive: {error}") from None
    if not entries:
        raise Rejected(DECOMPRESS_ERROR, "empty zip archive")
    entry = next((e for e in entries if e.filename.lower().endswith(".json")), entries[0])
    if entry.flag_bits & 1:
        raise Rejected(DECOMPRESS_ERROR, f"zip entry {entry.filename!r} is encrypted")
    if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Rejected(DECOMPRESS_ERROR, f"zip entry {entry.filename!r} uses method "
                                         f"{entry.compress_type}")
    if entry.file_size > limits.max_decompressed:
        raise Rejected(LIMIT_EXCEEDED, f"zip entry declares {entry.file_size} bytes, above "
                                       f"{limits.max_decompressed}")
    offset = entry.header_offset
    header = data[offset:offset + 30]
    if len(header) < 30 or header[:4] != _ZIP_MAGIC:
        raise Rejected(DECOMPRESS_ERROR, "zip local file header missing")
    name_size, extra_size = struct.unpack_from("<HH", header, 26)
    start = offset + 30 + name_size + extra_size
    stop = start + entry.compress_size
    if stop > len(data):
        raise Rejected(DECOMPRESS_ERROR, "zip entry data truncated")
    if entry.compress_type == zipfile.ZIP_STORED:
        if entry.compress_size > limits.max_decompressed:
            raise Rejected(LIMIT_EXCEEDED, "stored zip entry above the decompressed cap")
        output = data[start:stop]
    else:
        output, _ = _inflate(data, start, stop, limits, zlib.decompressobj(-zlib.MAX_WBITS))
    if zlib.crc32(output) & 0xFFFFFFFF != entry.CRC or len(output) != entry.file_size:
        raise Rejected(DECOMPRESS_ERROR, f"zip entry {entry.filename!r}: CRC-32 or size "
                                         f"mismatch")
    return output


# --- email (7.2, 7.6, 7.7) ------------------------------------------------------------------

def _analyze_message(data: bytes, context: _Context, dnsfunc: DnsFunc | None,
                     auth: Authentication) -> Analysis:
    limits = context.limits
    try:
        top = parse_entity(data, 0, len(data), 0, limits)
        untyped_report = False
        if top.content_type == "multipart/report":
            report_type = top.headers.get_param("report-type") or ""
            if isinstance(report_type, tuple):
                report_type = report_type[2]
            # Spec 7.2 turns away other report types (DMARC, DSN...). A report-type left out
            # names no other kind, so the parts decide, with a warning (tolerance, 7.5).
            untyped_report = not str(report_type).strip()
            if not untyped_report and str(report_type).lower() != "tlsrpt":
                raise Rejected(NOT_A_REPORT, f"multipart/report of report-type "
                                             f"{report_type!r}")
        parts = candidates(top, limits)
    except Rejected as rejection:
        return _rejected(rejection, context, ("email",))
    facts = _facts(top.headers)
    first_failure: tuple[Rejected, _Context, tuple[str, ...]] | None = None
    chosen: tuple[ParsedReport, tuple[str, ...], _Context, Entity] | None = None
    for part in parts:
        attempt = _Context(limits)
        payload = b""
        try:
            payload = decoded_body(part, limits)
            if not payload:
                raise Rejected(NOT_A_REPORT, "empty part")
            if not (payload[:2] == _GZIP_MAGIC or payload[:4] == _ZIP_MAGIC
                    or is_json(payload)):
                raise Rejected(NOT_A_REPORT, f"part {part.content_type} holds no gzip, zip or "
                                             f"JSON")
            report, chain = _payload(payload, attempt)
        except Rejected as rejection:
            if first_failure is None or (first_failure[0].code == NOT_A_REPORT
                                         and rejection.code != NOT_A_REPORT):
                first_failure = (rejection, attempt, ("email", *_chain_of(payload)))
            continue
        chosen = (report, ("email", *chain), attempt, part)
        break
    if chosen is None:
        if first_failure is None:
            return _rejected(Rejected(NOT_A_REPORT, "no candidate part (spec 7.2)"), context,
                             ("email",), facts)
        return _rejected(*first_failure, facts)
    report, chain, attempt, part = chosen
    warnings = list(attempt.warnings)
    if untyped_report:
        warnings.append(Finding("$", "multipart/report without a report-type parameter "
                                     "(RFC 8460 3 asks for report-type=tlsrpt)"))
    outcome = authenticate(data, facts.submitter, auth, dnsfunc)
    if outcome.problem is not None:
        if auth.require_dkim:
            return Analysis("rejected", AUTH_FAILED, outcome.problem, tuple(warnings), None,
                            chain, dkim=outcome.verified, facts=facts, dkim_outcome=outcome)
        warnings.append(Finding("$", f"unauthenticated: {outcome.problem} (RFC 8460 3)"))
    warnings.extend(_consistency(top.headers, part.headers, report))
    return Analysis("accepted", None, None, tuple(warnings), report, chain,
                    dkim=outcome.verified, facts=facts, dkim_outcome=outcome)


def _facts(headers: Message) -> MessageFacts:
    def field(name: str) -> str | None:
        value = headers.get(name)
        if value is None:
            return None
        text = " ".join(str(value).split())  # unfolded; undecodable bytes stay escaped
        return text or None

    return MessageFacts(field("From"), field("To"), field("Subject"), field("Message-ID"),
                        field("Date"), field("TLS-Report-Submitter"),
                        field("TLS-Report-Domain"), field("Return-Path"))


def _consistency(message: Message, part: Message, report: ParsedReport) -> list[Finding]:
    """Spec 7.7: header fields and filename vs the report body (warnings only)."""
    warnings: list[Finding] = []
    domains = {policy.domain.lower().rstrip(".") for policy in report.policies
               if policy.domain}
    header_domain = str(message.get("TLS-Report-Domain", "")).strip().lower().rstrip(".")
    if header_domain and header_domain not in domains:
        warnings.append(Finding("policies", f"TLS-Report-Domain {header_domain!r} matches no "
                                            f"policy-domain"))
    submitter = str(message.get("TLS-Report-Submitter", "")).strip().lower().rstrip(".")
    contact_domain = (report.contact or "").rpartition("@")[2].lower().rstrip(".")
    if submitter and submitter != contact_domain:
        warnings.append(Finding("contact-info", f"TLS-Report-Submitter {submitter!r} differs "
                                                f"from the contact-info domain "
                                                f"{contact_domain!r}"))
    name = part.get_filename()
    match = _FILENAME.fullmatch(str(name)) if name else None
    if match is not None:
        begin, end = int(match.group(2)), int(match.group(3))
        if begin != report.start or end != report.end:
            warnings.append(Finding("date-range", f"filename timestamps {begin}..{end} differ "
                                                  f"from the date-range "
                                                  f"{report.start}..{report.end}"))
        if match.group(1).lower() not in domains:
            warnings.append(Finding("policies", f"filename domain {match.group(1)!r} matches "
                                                f"no policy-domain"))
    return warnings


def _rejected(rejection: Rejected, context: _Context, chain: tuple[str, ...],
              facts: MessageFacts | None = None) -> Analysis:
    return Analysis("rejected", rejection.code, rejection.reason, tuple(context.warnings), None,
                    chain, path=rejection.path, errors=context.errors, facts=facts)
