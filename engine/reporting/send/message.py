"""The report email: the gzip payload (spec/reporting.md 5.1) and the exact RFC 5322 message
around it (5.3, 5.4), written byte for byte.

The message is written here rather than by the `email` package's generator, whose header
order and folding differ from the specification. Signing is `engine.reporting.sign`'s job:
DKIM-Signature fields are prepended to the bytes built here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
import zlib
from collections.abc import Sequence
from email.utils import formataddr
from typing import Final

CRLF: Final = b"\r\n"
#: RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters (CRLF excluded)
MAX_LINE: Final = 78
BASE64_LINE: Final = 76
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# gzip (RFC 1952) header: magic, CM=8 (deflate), FLG=0 (no FNAME, no FEXTRA...), MTIME=0
_GZIP_HEAD: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
_GZIP_OS_UNKNOWN: Final = 255
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")


def compress(json_bytes: bytes, level: int) -> bytes:
    """The gzip file of `json_bytes` (spec 5.1): one member, mtime 0, no file name.

    `level` is zlib's compression level, 0-9 (6 is zlib's default). The output depends only
    on the input, the level and the zlib build.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError(f"gzip compression level must be 0-9, not {level!r}")
    deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(json_bytes) + deflate.flush()
    xfl = 2 if level == 9 else 4 if level == 1 else 0  # RFC 1952 2.3.1: slowest / fastest
    trailer = struct.pack("<II", zlib.crc32(json_bytes) & 0xFFFFFFFF,
                          len(json_bytes) & 0xFFFFFFFF)
    return _GZIP_HEAD + bytes((xfl, _GZIP_OS_UNKNOWN)) + body + trailer


def boundary(report_id: str) -> str:
    """The MIME boundary (spec 5.3): `tlsrpt_` + the first 32 hex of SHA-256(report-id)."""
    return "tlsrpt_" + hashlib.sha256(report_id.encode("utf-8")).hexdigest()[:32]


def format_date(date: int) -> str:
    """RFC 5322 date-time in UTC with `+0000`: `Tue, 07 May 2024 02:49:42 +0000`."""
    t = time.gmtime(date)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


def format_from(name: str, address: str) -> str:
    """The From mailbox (spec 5.4), with `email.utils.formataddr` semantics: the display name
    quoted when it holds specials, RFC 2047-encoded when non-ASCII, left out when empty."""
    _check_text("from-name", name, ascii_only=False)
    _check_text("from-address", address)
    return formataddr((name, address))


def subject(report_domain: str, submitter: str, report_id: str) -> str:
    """The unfolded Subject value (RFC 8460 5.3, spec 5.3)."""
    return (f"Report Domain: {report_domain} Submitter: {submitter} "
            f"Report-ID: {msg_id(report_id, submitter)}")


def msg_id(report_id: str, submitter: str) -> str:
    """`<report-id@submitter>`: the Message-ID and the Subject's Report-ID (spec 3.6)."""
    return f"<{report_id}@{submitter}>"


def build_message(*, payload_gz: bytes, report_id: str, report_domain: str, submitter: str,
                  from_name: str, from_address: str, recipients: Sequence[str], filename: str,
                  date: int) -> bytes:
    """The unsigned report email of spec 5.3, as CRLF bytes.

    `recipients` are the mailto addresses in destination order; `date` is the render time in
    Unix seconds. Raises ValueError for values that cannot be written into the header (line
    breaks, control characters, non-ASCII outside the From display name and the recipients,
    no recipients). Non-ASCII recipient addresses are written as UTF-8 (RFC 6532), for
    which the submitter needs SMTPUTF8.
    """
    for what, text in (("report-id", report_id), ("report domain", report_domain),
                       ("submitter", submitter), ("filename", filename)):
        _check_text(what, text)
        if not text:
            raise ValueError(f"the {what} is empty")
    if '"' in filename or "\\" in filename:
        raise ValueError(f"the filename {filename!r} holds a quote or backslash")
    if isinstance(recipients, str) or not recipients:
        raise ValueError("a report email needs at least one recipient address (a sequence)")
    for address in recipients:
        _check_text("recipient", address, ascii_only=False)
        if not address or any(c in address for c in "<>, "):
            raise ValueError(f"invalid recipient address {address!r}")
    mark = boundary(report_id)

    header = [
        _field("From", format_from(from_name, from_address)),
        _field("To", ", ".join(f"<{address}>" for address in recipients)),
        _folded_subject(report_domain, submitter, report_id),
        _field("Date", format_date(date)),
        _field("Message-ID", msg_id(report_id, submitter)),
        _field("TLS-Report-Domain", report_domain),
        _field("TLS-Report-Submitter", submitter),
        _field("TLS-Required", "No"),
        _field("Auto-Submitted", "auto-generated"),
        _field("MIME-Version", "1.0"),
        _field("Content-Type",
               f'multipart/report; report-type="tlsrpt"; boundary="{mark}"'),
    ]
    text_part = [
        f"--{mark}",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: 7bit",
        "",
        f"TLS report from {submitter}",
        "",
        f"Report Domain: {report_domain}",
        f"Submitter: {submitter}",
        f"Report-ID: {report_id}",
    ]
    gzip_part = [
        f"--{mark}",
        f'Content-Type: application/tlsrpt+gzip; name="{filename}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{filename}"',
        "",
    ]
    encoded = base64.b64encode(payload_gz).decode("ascii")
    gzip_part.extend(encoded[i:i + BASE64_LINE] for i in range(0, len(encoded), BASE64_LINE))
    body = [*text_part, *gzip_part, f"--{mark}--"]
    return (b"".join(header) + CRLF
            + b"".join(line.encode("ascii") + CRLF for line in body))


def _field(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("utf-8") + CRLF


def _folded_subject(report_domain: str, submitter: str, report_id: str) -> bytes:
    """The Subject field, folded only at the space before `Submitter:` and before `Report-ID:`
    (spec 5.3), and only where the line would otherwise exceed 78 characters."""
    pieces = [f"Subject: Report Domain: {report_domain}", f"Submitter: {submitter}",
              f"Report-ID: {msg_id(report_id, submitter)}"]
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) <= MAX_LINE:
            lines[-1] += " " + piece
        else:
            lines.append(" " + piece)
    return b"".join(line.encode("ascii") + CRLF for line in lines)


def _check_text(what: str, text: str, *, ascii_only: bool = True) -> None:
    """Refuse what would break the header or body syntax (header injection included)."""
    if not isinstance(text, str):
        raise ValueError(f"the {what} must be text, not {type(text).__name__}")
    if _CONTROL.search(text):
        raise ValueError(f"the {what} {text!r} holds a line break or control character")
    if ascii_only and not text.isascii():
        raise ValueError(f"the {what} {text!r} is not ASCII")
