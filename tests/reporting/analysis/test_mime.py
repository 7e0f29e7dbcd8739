"""The MIME level of the analysis (spec/reporting.md 7.2, 7.4): the walk finds the report part
in the shapes senders use, and every MIME limit (parts, nesting, header size and count,
decoded part size) stops a hostile message built in memory, in bounded time and memory."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import pytest

from engine.reporting.analysis.analyze import (
    LIMIT_EXCEEDED, NOT_A_REPORT, Analysis, Authentication, Limits, analyze_bytes,
)
from tests.reporting.analysis.bounded import MIB, guarded

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPORT = (FIXTURES / "mailauth-rpt02.json").read_bytes()
UNSIGNED_OK = Authentication(require_dkim=False)
HEAD = (b"From: reports@sender.example\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n')


def bounded(data: bytes, *, peak_mib: float, **options: Any) -> Analysis:
    return guarded(data, peak_mib=peak_mib, auth=UNSIGNED_OK, **options)


def part(body: bytes, headers: bytes = b"Content-Type: application/json\r\n") -> bytes:
    return b"--b\r\n" + headers + b"\r\n" + body + b"\r\n"


def accepted(message: bytes, **options: Any) -> Analysis:
    analysis = analyze_bytes(message, auth=UNSIGNED_OK, **options)
    assert analysis.accepted, analysis
    assert analysis.report is not None
    assert analysis.report.report_id == "2020-01-01T00:00:00Z_example.com"
    return analysis


# --- shapes that must still be read -------------------------------------------------------

def test_base64_and_quoted_printable_parts() -> None:
    b64 = part(base64.encodebytes(REPORT), b"Content-Type: application/tlsrpt+json\r\n"
                                           b"Content-Transfer-Encoding: base64\r\n")
    accepted(HEAD + b64 + b"--b--\r\n")
    qp = part(binascii.b2a_qp(REPORT), b"Content-Type: application/json\r\n"
                                       b"Content-Transfer-Encoding: quoted-printable\r\n")
    accepted(HEAD + qp + b"--b--\r\n")
    # base64 without its final padding, cut into odd lines, still decodes
    unpadded = base64.b64encode(REPORT).rstrip(b"=")
    lines = b"\r\n".join(unpadded[i:i + 57] for i in range(0, len(unpadded), 57))
    accepted(HEAD + part(lines, b"Content-Type: application/json\r\n"
                                b"Content-Transfer-Encoding: BASE64\r\n") + b"--b--\r\n")


def test_bare_line_feeds_missing_close_delimiter_and_preamble() -> None:
    message = (HEAD + b"This is a preamble.\r\n" + part(b"hello", b"Content-Type: text/plain\r\n")
               + part(REPORT)).replace(b"\r\n", b"\n")
    analysis = accepted(message)  # no close delimiter: the last part runs to the end
    assert analysis.container == ("email", "json")


def test_a_part_without_headers_and_a_delimiter_with_padding() -> None:
    # a part with no header block is typed text/plain by default: not a candidate by type,
    # so the report part after it (delimiter followed by spaces) must be found
    message = HEAD + b"--b\r\n\r\n{}\r\n--b  \r\n" + b"Content-Type: application/json\r\n\r\n" \
        + REPORT + b"\r\n--b--  \r\nepilogue"
    accepted(message)


def test_base64_encoded_nested_message() -> None:
    inner = HEAD + part(REPORT) + b"--b--\r\n"
    outer = (b"From: fwd@example.net\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
             b"--o\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(inner) + b"\r\n--o--\r\n")
    assert accepted(outer).container == ("email", "json")


def test_exactly_at_the_part_and_depth_limits() -> None:
    filler = b"".join(part(b"x", b"Content-Type: text/plain\r\n") for _ in range(98))
    # the top multipart + 98 fillers + the report = 100 parts
    accepted(HEAD + filler + part(REPORT) + b"--b--\r\n")
    with_one_more = HEAD + filler + part(b"x") + part(REPORT) + b"--b--\r\n"
    assert analyze_bytes(with_one_more, auth=UNSIGNED_OK).code == LIMIT_EXCEEDED
    nested = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
                      for i in range(10))
    deepest = b"Content-Type: application/json\r\n\r\n" + REPORT
    accepted(b"MIME-Version: 1.0\r\n" + nested + deepest)  # the report at depth 10
    deeper = nested + b'Content-Type: multipart/mixed; boundary="n10"\r\n\r\n--n10\r\n'
    assert analyze_bytes(b"MIME-Version: 1.0\r\n" + deeper + deepest,
                         auth=UNSIGNED_OK).code == LIMIT_EXCEEDED


# --- hostile messages, built in memory ------------------------------------------------------

def test_a_million_parts() -> None:
    message = HEAD + b"--b\r\n\r\nx\r\n" * 1_500_000
    assert len(message) < 15 * MIB
    analysis = bounded(message, peak_mib=4)
    assert (analysis.code, analysis.reason) == (LIMIT_EXCEEDED, "more than 100 MIME parts")


def test_parts_spread_over_nested_multiparts() -> None:
    # 60 multiparts of 60 parts each: no single multipart passes 100, the message does
    inner = (b'Content-Type: multipart/mixed; boundary="i"\r\n\r\n'
             + b"--i\r\n\r\nx\r\n" * 60 + b"--i--")
    message = HEAD + b"".join(b"--b\r\n" + inner + b"\r\n" for _ in range(60)) + b"--b--\r\n"
    analysis = bounded(message, peak_mib=4)
    assert (analysis.code, analysis.reason) == (LIMIT_EXCEEDED, "more than 100 MIME parts")


@pytest.mark.parametrize("kind", ["multipart", "message/rfc822"])
def test_nesting_a_hundred_thousand_deep(kind: str) -> None:
    if kind == "multipart":
        level = b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n'
        message = b"MIME-Version: 1.0\r\n" + b"".join(level % (i, i) for i in range(100_000))
    else:
        message = b"MIME-Version: 1.0\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 100_000
    assert len(message) < 15 * MIB
    analysis = bounded(message, peak_mib=4)
    assert (analysis.code, analysis.reason) == (LIMIT_EXCEEDED, "MIME nesting deeper than 10")


def test_a_fourteen_mib_header() -> None:
    message = b"Subject: " + b"a" * (14 * MIB) + b"\r\n\r\n" + REPORT
    analysis = bounded(message, peak_mib=4)
    assert analysis.code == LIMIT_EXCEEDED
    assert "header block is larger than 262144 bytes" in (analysis.reason or "")
    # the cap is configurable: a 1 MiB header passes with a 2 MiB cap
    one_mib = b"Subject: " + b"a" * MIB + b"\r\n\r\n" + REPORT
    assert analyze_bytes(one_mib, auth=UNSIGNED_OK).code == LIMIT_EXCEEDED
    assert analyze_bytes(one_mib, auth=UNSIGNED_OK,
                         limits=Limits(max_header_bytes=2 * MIB)).accepted


def test_too_many_header_fields_in_a_part() -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(1001))
    message = HEAD + part(REPORT, b"Content-Type: application/json\r\n" + fields) + b"--b--\r\n"
    analysis = bounded(message, peak_mib=8)
    assert (analysis.code, analysis.reason) == (
        LIMIT_EXCEEDED, "more than 1000 header fields in one MIME entity")
    # folded continuation lines are part of one field, not fields of their own
    folded = b"X-Long: v\r\n" + b"\tmore\r\n" * 5000
    assert accepted(HEAD + part(REPORT, b"Content-Type: application/json\r\n" + folded)
                    + b"--b--\r\n")


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_a_decoded_part_above_the_cap_stops_while_decoding(encoding: str) -> None:
    body = b"{" + b" " * (11 * MIB) + b"}"
    encoded = base64.encodebytes(body) if encoding == "base64" else binascii.b2a_qp(body)
    message = HEAD + part(encoded, b"Content-Type: application/json\r\n"
                                   b"Content-Transfer-Encoding: " + encoding.encode()
                          + b"\r\n") + b"--b--\r\n"
    assert len(message) < 15 * MIB
    analysis = bounded(message, peak_mib=14)  # the 10 MiB default cap plus one chunk
    assert (analysis.code, analysis.reason) == (LIMIT_EXCEEDED,
                                                "decoded part exceeds 10485760 bytes")
    # with a 1 MiB cap the decoder holds about 1 MiB: it stops, it does not decode and check
    small = bounded(message, peak_mib=3, limits=Limits(max_part=MIB))
    assert (small.code, small.reason) == (LIMIT_EXCEEDED, "decoded part exceeds 1048576 bytes")


def test_an_unencoded_part_above_the_cap_is_not_copied() -> None:
    message = HEAD + part(b"{" + b" " * (11 * MIB) + b"}") + b"--b--\r\n"
    analysis = bounded(message, peak_mib=2)
    assert (analysis.code, analysis.reason) == (
        LIMIT_EXCEEDED, f"decoded part of {11 * MIB + 2} bytes exceeds {10 * MIB}")


def test_millions_of_near_delimiters() -> None:
    # lines that start like the boundary but are not delimiters: one linear scan
    message = HEAD + b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"\n--bX" * 2_500_000
    analysis = bounded(message, peak_mib=4)
    assert analysis.code == NOT_A_REPORT


# --- review: hostile header parameters and boundaries ----------------------------------------

def test_a_boundary_outside_ascii_is_no_exception() -> None:
    # RFC 2231 lets a parameter carry UTF-8; analyze_bytes promises never to raise
    rfc2231 = (b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary*=utf-8''%C3%A9\r\n"
               b"\r\n--\xc3\xa9\r\nContent-Type: application/json\r\n\r\n" + REPORT
               + b"\r\n--\xc3\xa9--\r\n")
    accepted(rfc2231)
    raw_8bit = rfc2231.replace(b"boundary*=utf-8''%C3%A9", b'boundary="\xc3\xa9"')
    assert analyze_bytes(raw_8bit, auth=UNSIGNED_OK).code == NOT_A_REPORT


def test_semicolons_in_a_quoted_parameter_take_linear_time() -> None:
    # the email package splits parameters in time proportional to (semicolons x length): a
    # quoted value of 250 KiB of `;` in each of 50 parts would cost it hours
    field = b'Content-Type: application/json; name="' + b";" * (250 * 1024) + b'"\r\n'
    message = HEAD + b"".join(part(b"{}", field) for _ in range(50)) + b"--b--\r\n"
    assert len(message) < 15 * MIB
    analysis = bounded(message, peak_mib=16)
    assert analysis.code == LIMIT_EXCEEDED
    assert "parameters" in (analysis.reason or "")
    # a top-level Content-Disposition is read (file name) just the same
    top = (b"MIME-Version: 1.0\r\nContent-Type: application/json\r\nContent-Disposition: "
           b'attachment; filename="' + b";" * (250 * 1024) + b'"\r\n\r\n' + REPORT)
    assert bounded(top, peak_mib=16).code == LIMIT_EXCEEDED
    # real parameter lists (RFC 2231 continuations included) still pass
    continued = b"".join(b'; filename*%d="x%d"' % (i, i) for i in range(20))
    accepted(HEAD + part(REPORT, b"Content-Type: application/json\r\n"
                                 b"Content-Disposition: attachment" + continued + b"\r\n")
             + b"--b--\r\n")


@pytest.mark.parametrize("chunk", [256, 257, 258])
def test_a_quoted_printable_line_longer_than_a_chunk_is_decoded_whole(chunk: int) -> None:
    # RFC 2045 wants lines of at most 76 characters, but a sender that writes the whole part
    # as one line must not have an =XX escape cut in two at a chunk boundary
    escaped = b"".join(b"=%02X" % byte for byte in REPORT)
    headers = b"Content-Type: application/json\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    accepted(HEAD + part(escaped, headers) + b"--b--\r\n", limits=Limits(chunk=chunk))
