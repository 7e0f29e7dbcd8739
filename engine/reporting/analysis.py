"""Analysis of incoming TLS reports (spec/reporting.md 7.2-7.7), without the CLI.

`analyze_bytes(data)` decides the container by magic bytes only (gzip, zip, JSON, otherwise an
RFC 5322 message whose MIME parts are searched), decompresses in bounded chunks that stop at
the limits of 7.4, validates the JSON (7.5, `analysis_schema`), checks DKIM for emailed
reports (7.6, through `sign.verify_message`) and adds the consistency warnings of 7.7. Every
failure is an `Analysis` with status "rejected" and one of the codes of 7.8; nothing raises.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Final

from engine.reporting.analysis_limits import (
    AUTH_FAILED, DECOMPRESS_ERROR, JSON_SYNTAX, LIMIT_EXCEEDED, NOT_A_REPORT, SCHEMA_ERROR,
    Limits, Rejected, Warning,
)
from engine.reporting.analysis_schema import (
    ParsedDetail, ParsedPolicy, ParsedReport, is_json, parse_json, validate,
)

__all__ = [
    "AUTH_FAILED", "DECOMPRESS_ERROR", "JSON_SYNTAX", "LIMIT_EXCEEDED", "NOT_A_REPORT",
    "SCHEMA_ERROR", "Analysis", "Limits", "ParsedDetail", "ParsedPolicy", "ParsedReport",
    "Warning", "analyze_bytes",
]

DnsFunc = Callable[..., bytes | None]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_CANDIDATE_TYPES: Final = frozenset((
    "application/tlsrpt+gzip", "application/tlsrpt+json", "application/tlsrpt",
    "application/gzip", "application/x-gzip", "application/zip",
    "application/x-zip-compressed", "application/json", "application/octet-stream"))
_CANDIDATE_SUFFIXES: Final = (".json", ".json.gz", ".gz", ".zip")
_HEADER_LINE: Final = re.compile(rb"[!-9;-~]+[ \t]*:")
# RFC 8460 5.1: sender!policy-domain!begin!end[!unique-id].json[.gz]
_FILENAME: Final = re.compile(r"[^!]+!([^!]+)!(\d+)!(\d+)(?:![A-Za-z0-9]+)?\.json(?:\.gz)?",
                              re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of one input. `code` is None when accepted; `errors` lists every schema
    problem found (the first one is `reason`/`path`); `container` is the chain of layers
    read, outermost first, e.g. ("email", "gzip", "json")."""

    status: str                               # "accepted" | "rejected"
    code: str | None
    reason: str | None
    warnings: tuple[Warning, ...]
    report: ParsedReport | None
    container: tuple[str, ...]
    path: str | None = None                   # JSON path of the first error (SCHEMA_ERROR)
    errors: tuple[Warning, ...] = ()
    dkim: tuple[bool, ...] = ()               # per DKIM-Signature, topmost first (email only)

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(slots=True)
class _Context:
    limits: Limits
    warnings: list[Warning] = field(default_factory=list)
    errors: tuple[Warning, ...] = ()


def analyze_bytes(data: bytes, *, limits: Limits = Limits(), dnsfunc: DnsFunc | None = None,
                  require_dkim: bool = False) -> Analysis:
    """Analyse one raw input (a file, an HTTPS body, or a whole RFC 5322 message)."""
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
    return _analyze_message(data, context, dnsfunc, require_dkim)


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
        first = errors[0] if errors else Warning("$", "invalid report")
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
        context.warnings.append(Warning("$", f"{len(data) - end - 8} bytes after the gzip "
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
                     require_dkim: bool) -> Analysis:
    limits = context.limits
    try:
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    except Exception as error:  # noqa: BLE001 - untrusted input, the parser is lenient anyway
        return _rejected(Rejected(NOT_A_REPORT, f"unparseable message: {error}"), context,
                         ("email",))
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "")
        if isinstance(report_type, tuple):
            report_type = report_type[2]
        if str(report_type).lower() != "tlsrpt":
            return _rejected(Rejected(NOT_A_REPORT, f"multipart/report of report-type "
                                                    f"{report_type!r}"), context, ("email",))
    try:
        candidates = list(_candidates(message, limits))
    except Rejected as rejection:
        return _rejected(rejection, context, ("email",))
    first_failure: tuple[Rejected, _Context, tuple[str, ...]] | None = None
    chosen: tuple[ParsedReport, tuple[str, ...], _Context, Message] | None = None
    for part in candidates:
        attempt = _Context(limits)
        payload: Any = b""
        try:
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                raise Rejected(NOT_A_REPORT, "empty part")
            if len(payload) > limits.max_part:
                raise Rejected(LIMIT_EXCEEDED, f"decoded part of {len(payload)} bytes exceeds "
                                               f"{limits.max_part}")
            if not (payload[:2] == _GZIP_MAGIC or payload[:4] == _ZIP_MAGIC
                    or is_json(payload)):
                raise Rejected(NOT_A_REPORT, f"part {part.get_content_type()} holds no "
                                             f"gzip, zip or JSON")
            report, chain = _payload(payload, attempt)
        except Rejected as rejection:
            if first_failure is None or (first_failure[0].code == NOT_A_REPORT
                                         and rejection.code != NOT_A_REPORT):
                first_failure = (rejection, attempt, ("email", *_chain_of(payload or b"")))
            continue
        chosen = (report, ("email", *chain), attempt, part)
        break
    if chosen is None:
        if first_failure is None:
            return _rejected(Rejected(NOT_A_REPORT, "no candidate part (spec 7.2)"), context,
                             ("email",))
        return _rejected(*first_failure)
    report, chain, attempt, part = chosen
    warnings = list(attempt.warnings)
    results = _dkim(data, dnsfunc)
    if not any(results):
        text = ("no DKIM-Signature" if not results
                else f"none of {len(results)} DKIM signatures verifies")
        if require_dkim:
            return Analysis("rejected", AUTH_FAILED, text, tuple(warnings), None, chain,
                            dkim=tuple(results))
        warnings.append(Warning("$", f"unauthenticated: {text} (RFC 8460 3)"))
    warnings.extend(_consistency(message, part, report))
    return Analysis("accepted", None, None, tuple(warnings), report, chain,
                    dkim=tuple(results))


def _candidates(message: Message, limits: Limits) -> Iterator[Message]:
    """Candidate parts in document order (spec 7.2); LIMIT_EXCEEDED past the part/depth caps."""
    if not message.is_multipart() and message.get_content_type() != "message/rfc822":
        yield message  # the body of a single-part message
        return
    seen = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            raise Rejected(LIMIT_EXCEEDED, f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_mime_depth:
            raise Rejected(LIMIT_EXCEEDED, f"MIME nesting deeper than {limits.max_mime_depth}")
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in reversed(children)
                             if isinstance(child, Message))
            continue
        if _is_candidate(part):
            yield part


def _is_candidate(part: Message) -> bool:
    kind = part.get_content_type()
    name = (part.get_filename() or part.get_param("name") or "")
    name = str(name).lower() if not isinstance(name, tuple) else str(name[2]).lower()
    if kind == "text/plain":
        return name.endswith(".json")
    return kind in _CANDIDATE_TYPES or name.endswith(_CANDIDATE_SUFFIXES)


def _dkim(data: bytes, dnsfunc: DnsFunc | None) -> list[bool]:
    from engine.reporting.sign import system_dnsfunc, verify_message

    return verify_message(data, dnsfunc if dnsfunc is not None else system_dnsfunc())


def _consistency(message: Message, part: Message, report: ParsedReport) -> list[Warning]:
    """Spec 7.7: header fields and filename vs the report body (warnings only)."""
    warnings: list[Warning] = []
    domains = {policy.domain.lower().rstrip(".") for policy in report.policies
               if policy.domain}
    header_domain = str(message.get("TLS-Report-Domain", "")).strip().lower().rstrip(".")
    if header_domain and header_domain not in domains:
        warnings.append(Warning("policies", f"TLS-Report-Domain {header_domain!r} matches no "
                                            f"policy-domain"))
    submitter = str(message.get("TLS-Report-Submitter", "")).strip().lower().rstrip(".")
    contact_domain = (report.contact or "").rpartition("@")[2].lower().rstrip(".")
    if submitter and submitter != contact_domain:
        warnings.append(Warning("contact-info", f"TLS-Report-Submitter {submitter!r} differs "
                                                f"from the contact-info domain "
                                                f"{contact_domain!r}"))
    name = part.get_filename()
    match = _FILENAME.fullmatch(str(name)) if name else None
    if match is not None:
        begin, end = int(match.group(2)), int(match.group(3))
        if begin != report.start or end != report.end:
            warnings.append(Warning("date-range", f"filename timestamps {begin}..{end} differ "
                                                  f"from the date-range "
                                                  f"{report.start}..{report.end}"))
        if match.group(1).lower() not in domains:
            warnings.append(Warning("policies", f"filename domain {match.group(1)!r} matches "
                                                f"no policy-domain"))
    return warnings


def _rejected(rejection: Rejected, context: _Context, chain: tuple[str, ...]) -> Analysis:
    return Analysis("rejected", rejection.code, rejection.reason, tuple(context.warnings), None,
                    chain, path=rejection.path, errors=context.errors)
