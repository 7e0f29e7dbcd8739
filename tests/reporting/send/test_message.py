"""engine.reporting.send.message: the gzip payload (spec 5.1) and the exact report email (5.3, 5.4),
checked on the spec 11 worked example and read back with Python's email parser."""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import io
import re
import struct
import zlib
from email.message import EmailMessage
from typing import Any

import pytest

from engine.reporting.send.message import boundary, build_message, compress, format_date

# spec 11 worked example
REPORT_ID = "1714953600_1715039999_example.org"
SUBMITTER = "mta.example.com"
REPORT_DOMAIN = "example.org"
FILENAME = "mta.example.com!example.org!1714953600!1715039999.json.gz"
SUBJECT = ("Report Domain: example.org Submitter: mta.example.com "
           "Report-ID: <1714953600_1715039999_example.org@mta.example.com>")
BOUNDARY = "tlsrpt_c436e8f20f4c799c67ebb97405d0ef48"
SEND_AT = 1715050182  # 2024-05-07T02:49:42Z
JSON = (
    b'{"organization-name":"Example Sender","date-range":{"start-datetime":"2024-05-06T00:00:'
    b'00Z","end-datetime":"2024-05-06T23:59:59Z"},"contact-info":"tlsrpt@mta.example.com","re'
    b'port-id":"1714953600_1715039999_example.org","policies":[{"policy":{"policy-type":"sts",'
    b'"policy-string":["version: STSv1","mode: enforce","mx: mail.example.org","max_age: 6048'
    b'00"],"policy-domain":"example.org","mx-host":["mail.example.org"]},"summary":{"total-su'
    b'ccessful-session-count":2,"total-failure-session-count":1},"failure-details":[{"result-'
    b'type":"certificate-expired","sending-mta-ip":"198.51.100.1","receiving-mx-hostname":"ma'
    b'il.example.org","receiving-ip":"192.0.2.25","failed-session-count":1,"failure-reason-co'
    b'de":"X509_V_ERR_CERT_HAS_EXPIRED"}]}]}'
)
HEADER_ORDER = ["From", "To", "Subject", "Date", "Message-ID", "TLS-Report-Domain",
                "TLS-Report-Submitter", "TLS-Required", "Auto-Submitted", "MIME-Version",
                "Content-Type"]


def example(**changes: Any) -> bytes:
    arguments: dict[str, Any] = dict(
        payload_gz=compress(JSON, 6), report_id=REPORT_ID, report_domain=REPORT_DOMAIN,
        submitter=SUBMITTER, from_name="TLS Aggregate Report",
        from_address="noreply-tls@example.com", recipients=["tls@example.org"],
        filename=FILENAME, date=SEND_AT)
    arguments.update(changes)
    return build_message(**arguments)


def split(message: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """(name, unfolded value) of every header field in order, and the body."""
    head, _, body = message.partition(b"\r\n\r\n")
    fields: list[tuple[str, str]] = []
    for line in head.decode("utf-8").split("\r\n"):
        if line[:1] in (" ", "\t"):
            name, value = fields[-1]
            fields[-1] = (name, value + line)  # unfolding removes the CRLF only
        else:
            name, _, value = line.partition(": ")
            fields.append((name, value))
    return fields, body


def parse(message: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# -- compress (spec 5.1)

@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_compress_round_trips(level: int) -> None:
    assert gzip.decompress(compress(JSON, level)) == JSON
    assert gzip.decompress(compress(b"", level)) == b""


def test_compress_header_mtime_zero_and_no_file_name() -> None:
    data = compress(JSON, 6)
    magic, method, flags, mtime = struct.unpack("<HBBI", data[:8])
    assert (magic, method) == (0x8B1F, 8)
    assert flags == 0  # no FNAME, FCOMMENT, FEXTRA, FHCRC
    assert mtime == 0
    # one member: raw inflate of the body consumes everything but the 8-byte trailer
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflater.decompress(data[10:]) == JSON
    assert len(inflater.unused_data) == 8
    assert struct.unpack("<II", inflater.unused_data) == (zlib.crc32(JSON), len(JSON))
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        assert handle.read() == JSON
        assert handle.mtime == 0
        assert handle.name == ""


def test_compress_is_deterministic_and_uses_the_level() -> None:
    assert compress(JSON, 6) == compress(JSON, 6)
    assert compress(JSON * 50, 9) != compress(JSON * 50, 0)


@pytest.mark.parametrize("level", [-1, 10, True])
def test_compress_rejects_bad_levels(level: int) -> None:
    with pytest.raises(ValueError):
        compress(JSON, level)


# -- the worked example (spec 11)

def test_worked_example_values() -> None:
    assert len(JSON) == 735
    assert boundary(REPORT_ID) == BOUNDARY
    assert format_date(SEND_AT) == "Tue, 07 May 2024 02:49:42 +0000"
    fields, body = split(example())
    values = dict(fields)
    assert values["Subject"] == SUBJECT
    assert values["Message-ID"] == "<1714953600_1715039999_example.org@mta.example.com>"
    assert values["Date"] == "Tue, 07 May 2024 02:49:42 +0000"
    assert values["Content-Type"] == (
        f'multipart/report; report-type="tlsrpt"; boundary="{BOUNDARY}"')
    assert f'filename="{FILENAME}"'.encode() in body
    assert f'name="{FILENAME}"'.encode() in body


def test_header_fields_in_order() -> None:
    fields, _ = split(example(recipients=["tls@example.org", "b@y.example"]))
    assert [name for name, _ in fields] == HEADER_ORDER
    assert fields == [
        ("From", "TLS Aggregate Report <noreply-tls@example.com>"),
        ("To", "<tls@example.org>, <b@y.example>"),
        ("Subject", SUBJECT),
        ("Date", "Tue, 07 May 2024 02:49:42 +0000"),
        ("Message-ID", "<1714953600_1715039999_example.org@mta.example.com>"),
        ("TLS-Report-Domain", "example.org"),
        ("TLS-Report-Submitter", "mta.example.com"),
        ("TLS-Required", "No"),
        ("Auto-Submitted", "auto-generated"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/report; report-type="tlsrpt"; boundary="{BOUNDARY}"'),
    ]


def test_subject_folded_only_before_submitter_or_report_id() -> None:
    head = example().partition(b"\r\n\r\n")[0].decode()
    subject = re.search(r"^Subject: .*?(?=\r\n\S)", head, re.M | re.S)
    assert subject is not None
    lines = subject.group(0).split("\r\n")
    assert lines == ["Subject: Report Domain: example.org Submitter: mta.example.com",
                     " Report-ID: <1714953600_1715039999_example.org@mta.example.com>"]
    for line in head.split("\r\n"):
        if line.startswith(" "):
            assert line.startswith((" Submitter: ", " Report-ID: "))
    # short values are not folded at all
    raw = example(report_id="1_2_a.ex", report_domain="a.ex", submitter="m.ex")
    assert b"\r\n " not in raw.partition(b"\r\n\r\n")[0]
    assert dict(split(raw)[0])["Subject"] == (
        "Report Domain: a.ex Submitter: m.ex Report-ID: <1_2_a.ex@m.ex>")
    # long values are folded at both places
    long_domain = "a-very-long-label-for-testing-the-folding." * 2 + "example"
    folded = example(report_domain=long_domain, report_id=f"1_2_{long_domain}")
    subject_lines = [line for line in folded.partition(b"\r\n\r\n")[0].split(b"\r\n")
                     if line.startswith((b"Subject:", b" Submitter:", b" Report-ID:"))]
    assert len(subject_lines) == 3


def test_body_exact() -> None:
    payload = compress(JSON, 6)
    _, body = split(example(payload_gz=payload))
    encoded = base64.b64encode(payload).decode()
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    expected = "\r\n".join([
        f"--{BOUNDARY}",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: 7bit",
        "",
        "TLS report from mta.example.com",
        "",
        "Report Domain: example.org",
        "Submitter: mta.example.com",
        "Report-ID: 1714953600_1715039999_example.org",
        f"--{BOUNDARY}",
        f'Content-Type: application/tlsrpt+gzip; name="{FILENAME}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{FILENAME}"',
        "",
        *lines,
        f"--{BOUNDARY}--",
        "",
    ])
    assert body.decode("ascii") == expected


def test_crlf_everywhere_and_base64_lines_of_76() -> None:
    payload = compress(bytes(range(256)) * 40, 0)  # incompressible enough for many lines
    message = example(payload_gz=payload)
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert b"\r" not in message.replace(b"\r\n", b"")
    assert message.endswith(b"--\r\n")
    body = message.partition(b"\r\n\r\n")[2]
    encoded = body.split(b"\r\n\r\n")[-1].split(b"\r\n")
    encoded = [line for line in encoded if line and not line.startswith(b"--")]
    assert len(encoded) > 3
    assert all(len(line) == 76 for line in encoded[:-1])
    assert 0 < len(encoded[-1]) <= 76
    assert base64.b64decode(b"".join(encoded)) == payload


def test_parsed_back_by_the_email_package() -> None:
    parsed = parse(example(recipients=["tls@example.org", "b@y.example"]))
    assert parsed.defects == []
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "tlsrpt"
    assert parsed.get_boundary() == BOUNDARY
    assert str(parsed["Subject"]) == SUBJECT
    assert str(parsed["Message-ID"]) == "<1714953600_1715039999_example.org@mta.example.com>"
    assert str(parsed["TLS-Report-Domain"]) == "example.org"
    assert str(parsed["TLS-Report-Submitter"]) == "mta.example.com"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["tls@example.org", "b@y.example"]
    assert parsed["Date"].datetime.timestamp() == SEND_AT
    assert parsed["Date"].datetime.utcoffset().total_seconds() == 0
    assert parsed.preamble in (None, "")
    assert parsed.epilogue in (None, "")
    parts = list(parsed.iter_parts())
    assert len(parts) == 2
    text, attachment = parts
    assert text.get_content_type() == "text/plain"
    assert text.get_content_charset() == "us-ascii"
    assert text.get_content().splitlines() == [
        "TLS report from mta.example.com", "", "Report Domain: example.org",
        "Submitter: mta.example.com", "Report-ID: 1714953600_1715039999_example.org"]
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == FILENAME
    assert attachment.get_param("name") == FILENAME
    assert attachment.defects == []
    assert gzip.decompress(attachment.get_content()) == JSON


# -- From (spec 5.4)

@pytest.mark.parametrize(("name", "expected"), [
    ("TLS Aggregate Report", "TLS Aggregate Report <noreply-tls@example.com>"),
    ("TLS Reports, Example", '"TLS Reports, Example" <noreply-tls@example.com>'),
    ('Say "hi"', r'"Say \"hi\"" <noreply-tls@example.com>'),
    ("", "noreply-tls@example.com"),
    ("Rapports TLS de l’été", "=?utf-8?b?UmFwcG9ydHMgVExTIGRlIGzigJnDqXTDqQ==?= "
                              "<noreply-tls@example.com>"),
])
def test_from_formatting(name: str, expected: str) -> None:
    message = example(from_name=name)
    fields, _ = split(message)
    assert fields[0] == ("From", expected)
    assert message.partition(b"\r\n\r\n")[0].isascii()
    parsed = parse(message)
    (address,) = parsed["From"].addresses
    assert address.addr_spec == "noreply-tls@example.com"
    assert address.display_name == name


def test_non_ascii_recipient_written_as_utf8() -> None:
    message = example(recipients=["rapports@exemple.example", "tlś@example.org"])
    assert "To: <rapports@exemple.example>, <tlś@example.org>\r\n".encode() in message


@pytest.mark.parametrize("changes", [
    {"recipients": []},
    {"recipients": "tls@example.org"},
    {"recipients": ["a@example.org>, <evil@example.net"]},
    {"from_name": "Reports\r\nBcc: evil@example.net"},
    {"from_address": "noreply@example.com\r\nBcc: evil@example.net"},
    {"report_domain": "example.org\nX-Injected: 1"},
    {"submitter": "mtä.example.com"},
    {"filename": 'a"b.json.gz'},
    {"report_id": ""},
])
def test_refuses_values_that_break_the_message(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        example(**changes)
