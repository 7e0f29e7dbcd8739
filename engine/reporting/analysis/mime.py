"""A bounded walk over the MIME tree of a raw message (spec/reporting.md 7.2, 7.4).

The `email` package parses a whole message into objects before anyone can count its parts, and
its feed parser checks every line against every open boundary: a 15 MiB message of two million
empty parts, or of multiparts nested ten thousand deep, costs gigabytes and minutes there. This
walk never builds more than it needs: it finds an entity's header block within
`max_header_bytes` (and at most `max_header_fields` fields) and parses only that block with the
`email` header parser; it splits a multipart by searching its delimiter lines in the shared
input buffer (offsets, no copies) and stops at the part and depth caps before descending; it
decodes a candidate's Content-Transfer-Encoding in chunks, stopping as soon as the decoded size
passes `max_part`. Every excess raises `Rejected(LIMIT_EXCEEDED)`.
"""

from __future__ import annotations

import binascii
import email.parser
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from typing import Final

from engine.reporting.analysis.limits import LIMIT_EXCEEDED, NOT_A_REPORT, Limits, Rejected

_BLANK_LINE: Final = re.compile(rb"\n\r?\n")
_FIELD_START: Final = re.compile(rb"[!-9;-~]+[ \t]*:")
_NOT_BASE64: Final = bytes(byte for byte in range(256)
                           if byte not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           b"0123456789+/=")
_MESSAGE_TYPES: Final = ("message/rfc822", "message/global")
CANDIDATE_TYPES: Final = frozenset((
    "application/tlsrpt+gzip", "application/tlsrpt+json", "application/tlsrpt",
    "application/gzip", "application/x-gzip", "application/zip",
    "application/x-zip-compressed", "application/json", "application/octet-stream"))
CANDIDATE_SUFFIXES: Final = (".json", ".json.gz", ".gz", ".zip")
#: parameters (semicolons) of one Content-Type / Content-Disposition field: the `email` package
#: splits parameters in time proportional to semicolons x field length (quadratic in a quoted
#: value full of `;`); real fields have a handful, RFC 2231 continuations a few dozen
MAX_PARAMETERS: Final = 64
_PARAMETER_FIELDS: Final = ("Content-Type", "Content-Disposition")
_HEADER_PARSER: Final = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True, slots=True)
class Entity:
    """One MIME entity: its parsed header fields, and where its body lies in `data` (the
    buffer is shared by every entity of a message; only a decoded nested message has its
    own)."""

    headers: Message
    data: bytes
    body_start: int
    body_end: int
    depth: int

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()


def parse_entity(data: bytes, start: int, end: int, depth: int, limits: Limits) -> Entity:
    """The entity in data[start:end]: the header block must end (blank line) within
    `max_header_bytes` and hold at most `max_header_fields` fields."""
    header_end, body_start = _header_block(data, start, end, limits)
    block = data[start:header_end]
    fields = 0
    for line in block.splitlines():
        if line[:1] not in (b" ", b"\t"):
            fields += 1
            if fields > limits.max_header_fields:
                raise Rejected(LIMIT_EXCEEDED, f"more than {limits.max_header_fields} header "
                                               f"fields in one MIME entity")
    headers = _HEADER_PARSER.parsebytes(block)
    for name in _PARAMETER_FIELDS:
        for value in headers.get_all(name, ()):
            if str(value).count(";") > MAX_PARAMETERS:
                raise Rejected(LIMIT_EXCEEDED, f"more than {MAX_PARAMETERS} parameters in a "
                                               f"{name} field")
    return Entity(headers, data, body_start, end, depth)


def _header_block(data: bytes, start: int, end: int, limits: Limits) -> tuple[int, int]:
    """(end of the header block, start of the body). A first line that is no header field
    means the entity has no headers, as in the `email` package."""
    if data.startswith(b"\r\n", start, end):
        return start, start + 2
    if data.startswith(b"\n", start, end):
        return start, start + 1
    if _FIELD_START.match(data, start, min(end, start + 1000)) is None:
        return start, start
    window = min(end, start + limits.max_header_bytes)
    blank = _BLANK_LINE.search(data, start, window)
    if blank is not None:
        return blank.start() + 1, blank.end()
    if window < end:
        raise Rejected(LIMIT_EXCEEDED, f"a MIME header block is larger than "
                                       f"{limits.max_header_bytes} bytes")
    return end, end  # headers only, no body


def candidates(top: Entity, limits: Limits) -> list[Entity]:
    """The parts worth trying as a report, in document order (spec 7.2). The whole tree is
    walked first, so that a message beyond the part or depth caps is rejected whatever it
    holds, and the walk is bounded by those caps."""
    if not top.content_type.startswith("multipart/") and top.content_type not in _MESSAGE_TYPES:
        return [top]  # the body of a single-part message, whatever its type
    found: list[Entity] = []
    seen = 0
    stack = [top]
    while stack:
        entity = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            raise Rejected(LIMIT_EXCEEDED, f"more than {limits.max_parts} MIME parts")
        if entity.depth > limits.max_mime_depth:
            raise Rejected(LIMIT_EXCEEDED, f"MIME nesting deeper than {limits.max_mime_depth}")
        kind = entity.content_type
        if kind.startswith("multipart/"):
            children = _children(entity, limits, limits.max_parts - seen - len(stack))
            stack.extend(reversed(children))
        elif kind in _MESSAGE_TYPES:
            stack.append(_inner_message(entity, limits))
        elif is_candidate(entity.headers):
            found.append(entity)
    return found


def _children(entity: Entity, limits: Limits, room: int) -> list[Entity]:
    """The body parts of a multipart, split at its delimiter lines (RFC 2046 5.1.1); the
    preamble and epilogue are ignored, a missing close delimiter ends the last part at the
    end of the entity. More than `room` parts is an excess, found before any is parsed."""
    boundary = entity.headers.get_boundary()
    if not boundary:
        return []
    data, start, end = entity.data, entity.body_start, entity.body_end
    # RFC 2231 may decode the parameter to non-ASCII text: match its UTF-8 bytes
    delimiter = re.compile(rb"\n--" + re.escape(boundary.encode("utf-8", "surrogateescape"))
                           + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    # the first delimiter may open the body: search from the blank line's own line feed
    search_from = start - 1 if start > 0 and data[start - 1:start] == b"\n" else start
    spans: list[tuple[int, int]] = []
    part_start: int | None = None
    for match in delimiter.finditer(data, search_from, end):
        if part_start is not None:
            part_end = match.start()
            if part_end > part_start and data[part_end - 1:part_end] == b"\r":
                part_end -= 1
            spans.append((part_start, max(part_end, part_start)))
            if len(spans) > room:
                raise Rejected(LIMIT_EXCEEDED, f"more than {limits.max_parts} MIME parts")
        if match.group(1):  # the close delimiter
            part_start = None
            break
        part_start = match.end()
    if part_start is not None:
        spans.append((part_start, end))
        if len(spans) > room:
            raise Rejected(LIMIT_EXCEEDED, f"more than {limits.max_parts} MIME parts")
    return [parse_entity(data, first, last, entity.depth + 1, limits) for first, last in spans]


def _inner_message(entity: Entity, limits: Limits) -> Entity:
    """The message inside a message/rfc822 part; senders sometimes base64 it, against RFC
    2046 5.2.1, so it is decoded (within `max_part`) like any part."""
    encoding = str(entity.headers.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        inner = decoded_body(entity, limits)
        return parse_entity(inner, 0, len(inner), entity.depth + 1, limits)
    return parse_entity(entity.data, entity.body_start, entity.body_end, entity.depth + 1,
                        limits)


def is_candidate(headers: Message) -> bool:
    """Spec 7.2: a report content type, or a report file name; text/plain only by name."""
    kind = headers.get_content_type()
    name = headers.get_filename() or headers.get_param("name") or ""
    name = str(name[2] if isinstance(name, tuple) else name).lower()
    if kind == "text/plain":
        return name.endswith(".json")
    return kind in CANDIDATE_TYPES or name.endswith(CANDIDATE_SUFFIXES)


def decoded_body(entity: Entity, limits: Limits) -> bytes:
    """The body with its Content-Transfer-Encoding undone, decoded chunk by chunk: at most
    `max_part` bytes (plus one chunk) are ever held before LIMIT_EXCEEDED."""
    encoding = str(entity.headers.get("Content-Transfer-Encoding", "")).strip().lower()
    data, start, end = entity.data, entity.body_start, entity.body_end
    if encoding == "base64":
        return _decode_base64(data, start, end, limits)
    if encoding == "quoted-printable":
        return _decode_quoted_printable(data, start, end, limits)
    if end - start > limits.max_part:
        raise Rejected(LIMIT_EXCEEDED, f"decoded part of {end - start} bytes exceeds "
                                       f"{limits.max_part}")
    return data[start:end]


def _decode_base64(data: bytes, start: int, end: int, limits: Limits) -> bytes:
    out = bytearray()
    carry = b""
    position = start
    while position < end:
        stop = min(position + limits.chunk, end)
        piece = carry + data[position:stop].translate(None, _NOT_BASE64)
        position = stop
        usable = len(piece) - len(piece) % 4 if position < end else len(piece)
        carry = piece[usable:]
        piece = piece[:usable]
        if position >= end and len(piece) % 4:
            # a final quantum without its padding: pad it as lenient decoders do
            piece = piece[:len(piece) - len(piece) % 4] if len(piece) % 4 == 1 else \
                piece + b"=" * (4 - len(piece) % 4)
        try:
            out += binascii.a2b_base64(piece)
        except binascii.Error as error:
            raise Rejected(NOT_A_REPORT, f"undecodable base64 part: {error}") from None
        _check_part_size(len(out), limits)
    return bytes(out)


def _decode_quoted_printable(data: bytes, start: int, end: int, limits: Limits) -> bytes:
    out = bytearray()
    position = start
    while position < end:
        stop = min(position + limits.chunk, end)
        if stop < end:  # cut after a line end, so that no =XX escape is split
            line_end = data.rfind(b"\n", position, stop)
            if line_end >= position:
                stop = line_end + 1
            else:  # a line longer than a chunk: cut before an escape that would be split
                escape = data.rfind(b"=", max(position, stop - 2), stop)
                stop = escape if escape > position else stop
        out += binascii.a2b_qp(data[position:stop])
        position = stop
        _check_part_size(len(out), limits)
    return bytes(out)


def _check_part_size(size: int, limits: Limits) -> None:
    if size > limits.max_part:
        raise Rejected(LIMIT_EXCEEDED, f"decoded part exceeds {limits.max_part} bytes")
