"""engine.reporting.analysis.analyze: every shared report fixture analysed as its README states,
hostile inputs built in memory (bounded time and memory), and a round trip through our own
report builder (spec/reporting.md 7.2-7.7)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from engine.config.signatures import SignatureConfig, load_private_key
from engine.reporting.analysis.analyze import (
    AUTH_FAILED, DECOMPRESS_ERROR, JSON_SYNTAX, LIMIT_EXCEEDED, NOT_A_REPORT, SCHEMA_ERROR,
    Analysis, Authentication, Limits, analyze_bytes,
)
from engine.reporting.send.build import build_report, filename
from engine.reporting.send.message import build_message, compress
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.sign import sign_message
from tests.reporting.analysis.bounded import MIB, guarded

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEYS = Path(__file__).resolve().parents[3] / "examples" / "keys"
T_2016_04_01 = 1459468800
T_2024_06_03 = 1717372800
#: RFC 8460 3 makes DKIM mandatory (the default); the fixtures' emails are unsigned
UNSIGNED_OK = Authentication(require_dkim=False)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def warning_paths(analysis: Analysis) -> list[str]:
    return [warning.path for warning in analysis.warnings]


# --- the fixtures, one by one ------------------------------------------------------------

def check_rpt01(analysis: Analysis) -> None:
    assert analysis.accepted, analysis
    report = analysis.report
    assert report is not None
    assert (report.organization, report.contact, report.report_id) == (
        "Company-X", "sts-reporting@company-x.example", "5065427c-23d3-47ca-b6e0-946ea0e8c4be")
    assert (report.start, report.end) == (T_2016_04_01, T_2016_04_01 + 86399)
    (policy,) = report.policies
    assert policy.type == "sts" and policy.domain == "company-y.example"
    assert policy.strings == ("version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
                              "max_age: 86400")
    assert policy.mx_hosts == ("*.mail.company-y.example",)
    assert (policy.successes, policy.failures) == (5326, 303)
    assert [d.failed_session_count for d in policy.details] == [100, 200, 3]
    assert sum(d.failed_session_count for d in policy.details) == 303
    assert policy.failures_by_result_type == {
        "certificate-expired": 100, "starttls-not-supported": 200, "validation-failure": 3}
    first, second, third = policy.details
    assert first.sending_mta_ip == "2001:db8:abcd:12::1"
    assert first.receiving_mx_hostname == "mx1.mail.company-y.example"
    assert second.sending_mta_ip == "2001:db8:abcd:13::1"
    assert second.receiving_ip == "203.0.113.56"
    assert second.additional_information is not None
    assert third.failure_reason_code == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"


def test_rpt01_json() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt01.json"))
    check_rpt01(analysis)
    assert analysis.container == ("json",)
    assert analysis.warnings == ()


def test_rpt01_attachment_gzip_equals_json() -> None:
    data = fixture("mailauth-rpt01-attachment.json.gz")
    assert gzip.decompress(data) == fixture("mailauth-rpt01.json")
    analysis = analyze_bytes(data)
    check_rpt01(analysis)
    assert analysis.container == ("gzip", "json")
    assert analysis.report == analyze_bytes(fixture("mailauth-rpt01.json")).report


def test_rpt01_email_consistency_warnings_only() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt01.eml"), auth=UNSIGNED_OK)
    check_rpt01(analysis)
    assert analysis.container == ("email", "gzip", "json")
    assert analysis.report == analyze_bytes(fixture("mailauth-rpt01.json")).report
    assert analysis.dkim == ()
    messages = " | ".join(w.message for w in analysis.warnings)
    assert "TLS-Report-Domain" in messages
    assert "TLS-Report-Submitter" in messages
    assert "filename timestamps" in messages
    # besides the 7.7 checks only the unauthenticated notice
    assert all(w.path in ("policies", "contact-info", "date-range", "$")
               for w in analysis.warnings)
    assert [w for w in analysis.warnings if w.path == "$"][0].message.startswith(
        "unauthenticated")


def test_rpt01_email_require_dkim_auth_failed() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt01.eml"))  # require-dkim is the default
    assert (analysis.status, analysis.code, analysis.report) == ("rejected", AUTH_FAILED, None)


def test_rpt02_email_plain_json_part() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt02.eml"), auth=UNSIGNED_OK)
    assert analysis.accepted, analysis
    assert analysis.container == ("email", "json")
    assert analysis.report == analyze_bytes(fixture("mailauth-rpt02.json")).report


def test_rpt02_json() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt02.json"))
    assert analysis.accepted
    report = analysis.report
    assert report is not None
    assert report.report_id == "2020-01-01T00:00:00Z_example.com"
    assert report.organization == "Google Inc."
    (policy,) = report.policies
    assert policy.mx_hosts == ()
    assert (policy.successes, policy.failures) == (23, 1)
    assert policy.details[0].result_type == "certificate-host-mismatch"
    assert warning_paths(analysis) == ["policies[0].policy.mx-host"]


def test_rpt03_lenient() -> None:
    analysis = analyze_bytes(fixture("mailauth-rpt03.json"))
    assert analysis.accepted
    report = analysis.report
    assert report is not None
    assert [p.type for p in report.policies] == ["no-policy-found", "invalid-policy-type"]
    assert [(p.successes, p.failures, p.details) for p in report.policies] == [
        (1, 0, ()), (1, 0, ())]
    paths = warning_paths(analysis)
    assert "policies[1].policy.policy-type" in paths
    assert "policies[0].summary.total-failure-session-count" in paths
    assert "policies[0].failure-details" in paths


def test_truncated_gzip() -> None:
    analysis = analyze_bytes(fixture("handmade-truncated.json.gz"))
    assert (analysis.status, analysis.code, analysis.report) == (
        "rejected", DECOMPRESS_ERROR, None)


def test_mislabelled_plain_json() -> None:
    analysis = analyze_bytes(fixture("handmade-mislabelled-plain.json.gz"))
    assert analysis.accepted and analysis.container == ("json",)
    report = analysis.report
    assert report is not None
    (policy,) = report.policies
    assert (policy.type, policy.successes, policy.domain) == (
        "no-policy-found", 4, "receiver.example")


def test_mislabelled_plain_json_as_gzip_part() -> None:
    body = base64.encodebytes(fixture("handmade-mislabelled-plain.json.gz")).decode()
    message = ("From: a@sender.example\r\nTo: b@receiver.example\r\nSubject: r\r\n"
               "MIME-Version: 1.0\r\n"
               'Content-Type: multipart/report; report-type="tlsrpt"; boundary="b"\r\n\r\n'
               "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
               "--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n" + body + "\r\n--b--\r\n")
    analysis = analyze_bytes(message.encode(), auth=UNSIGNED_OK)
    assert analysis.accepted and analysis.container == ("email", "json")


def test_wrong_types() -> None:
    analysis = analyze_bytes(fixture("handmade-wrong-types.json"))
    assert (analysis.status, analysis.code, analysis.path) == (
        "rejected", SCHEMA_ERROR, "organization-name")
    paths = [error.path for error in analysis.errors]
    assert paths[0] == "organization-name"
    assert paths[1:] == [
        "policies[0].policy.policy-string",
        "policies[0].summary.total-successful-session-count",
        "policies[0].summary.total-failure-session-count",
        "policies[0].failure-details[0].failed-session-count",
        "policies[0].failure-details[1].failed-session-count",
    ]


def test_missing_fields() -> None:
    analysis = analyze_bytes(fixture("handmade-missing-fields.json"))
    assert (analysis.status, analysis.code, analysis.path) == (
        "rejected", SCHEMA_ERROR, "date-range")
    assert [error.path for error in analysis.errors] == [
        "date-range", "policies[0].policy", "policies[0].failure-details[0].result-type"]


def test_quirks_lenient() -> None:
    analysis = analyze_bytes(fixture("handmade-quirks-lenient.json"))
    assert analysis.accepted, analysis
    report = analysis.report
    assert report is not None
    assert (report.start, report.end) == (T_2024_06_03, T_2024_06_03 + 86399)
    assert report.contact is None
    sts, none, tlsa = report.policies
    assert sts.mx_hosts == ("mx1.receiver.example",)
    assert [(p.successes, p.failures) for p in report.policies] == [(3, 0), (1, 0), (0, 1)]
    assert none.domain is None
    (detail,) = tlsa.details
    assert detail.result_type == "some-future-result-type"
    assert detail.receiving_ip == "2001:db8::25"
    assert detail.sending_mta_ip == "192.0.2.1"
    paths = warning_paths(analysis)
    for expected in ("date-range.start-datetime", "date-range.end-datetime", "contact-info",
                     "policies[0].policy.mx-host",
                     "policies[0].summary.total-failure-session-count",
                     "policies[0].failure-details", "policies[1].policy.policy-domain",
                     "policies[2].failure-details[0].result-type", "x-vendor-extension"):
        assert expected in paths


def test_collector_datagram_is_not_a_report() -> None:
    # the datagram is input for the collector (spec 8.5), not for the analysis
    analysis = analyze_bytes(fixture("handmade-collector-datagram.json"))
    assert (analysis.status, analysis.code, analysis.path) == (
        "rejected", SCHEMA_ERROR, "date-range")


# --- small hostile and odd inputs ---------------------------------------------------------

VALID = fixture("mailauth-rpt02.json")


@pytest.mark.parametrize(("data", "code"), [
    (b'{"a": NaN}', JSON_SYNTAX),
    (b'{"a": -Infinity}', JSON_SYNTAX),
    (b'{"a": "\xff\xfe"}', JSON_SYNTAX),
    (VALID[:-40], JSON_SYNTAX),
    (b'{"a": "unterminated', JSON_SYNTAX),
    (b'{"a": 1, "a": 2}', SCHEMA_ERROR),
    (b'{"a": 1' + b"0" * 30 + b"}", JSON_SYNTAX),
    (b"hello world", NOT_A_REPORT),
    (b"", NOT_A_REPORT),
    (gzip.compress(b"not json"), JSON_SYNTAX),
    (b"\x1f\x8b\x08\x00", DECOMPRESS_ERROR),
    (gzip.compress(VALID)[:-4], DECOMPRESS_ERROR),
    (gzip.compress(VALID)[:-8] + b"\0" * 8, DECOMPRESS_ERROR),
    (b"PK\x03\x04garbage", DECOMPRESS_ERROR),
])
def test_rejections(data: bytes, code: str) -> None:
    analysis = guarded(data, seconds=10)
    assert (analysis.status, analysis.code) == ("rejected", code), analysis


def test_bom_whitespace_and_trailing_gzip_bytes() -> None:
    assert analyze_bytes(b"\xef\xbb\xbf \r\n" + VALID).accepted
    analysis = analyze_bytes(gzip.compress(VALID) + b"trailing junk")
    assert analysis.accepted
    assert any("after the gzip member" in w.message for w in analysis.warnings)


def test_bool_is_not_an_integer_and_ranges() -> None:
    report = json.loads(VALID)
    report["policies"][0]["failure-details"][0]["failed-session-count"] = True
    analysis = analyze_bytes(json.dumps(report).encode())
    assert analysis.path == "policies[0].failure-details[0].failed-session-count"
    report["policies"][0]["failure-details"][0]["failed-session-count"] = 2 ** 63
    assert analyze_bytes(json.dumps(report).encode()).code == SCHEMA_ERROR
    report["policies"][0]["failure-details"][0]["failed-session-count"] = 2 ** 63 - 1
    assert analyze_bytes(json.dumps(report).encode()).accepted


def test_dates_offsets_and_order() -> None:
    report = json.loads(VALID)
    report["date-range"] = {"start-datetime": "2020-01-01t02:00:00.999+02:00",
                            "end-datetime": "2020-01-01T23:59:59z"}
    analysis = analyze_bytes(json.dumps(report).encode())
    assert analysis.report is not None and analysis.report.start == 1577836800
    report["date-range"]["end-datetime"] = "2019-12-31T23:59:59Z"
    assert analyze_bytes(json.dumps(report).encode()).path == "date-range.end-datetime"
    report["date-range"]["end-datetime"] = "yesterday"
    assert analyze_bytes(json.dumps(report).encode()).path == "date-range.end-datetime"


def test_other_report_type_is_not_a_tls_report() -> None:
    message = (b'Content-Type: multipart/report; report-type="feedback-report"; boundary="b"'
               b"\r\n\r\n--b\r\nContent-Type: application/json\r\n\r\n" + VALID + b"\r\n--b--\r\n")
    assert analyze_bytes(message).code == NOT_A_REPORT


def test_a_report_without_report_type_is_read_with_a_warning() -> None:
    message = (b'Content-Type: multipart/report; boundary="b"'
               b"\r\n\r\n--b\r\nContent-Type: application/json\r\n\r\n" + VALID + b"\r\n--b--\r\n")
    analysis = analyze_bytes(message, auth=UNSIGNED_OK)
    assert analysis.accepted, analysis.reason
    assert any("without a report-type" in warning.message for warning in analysis.warnings)
    # an explicit other type is still turned away, whatever the parts hold
    assert analyze_bytes(message.replace(b"report;", b'report; report-type="delivery-status";'),
                         auth=UNSIGNED_OK).code == NOT_A_REPORT


def test_nested_rfc822_and_first_valid_candidate_wins() -> None:
    inner = fixture("mailauth-rpt01.eml")
    outer = (b"From: fwd@example.net\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
             b"--o\r\nContent-Type: application/json\r\n\r\n{broken\r\n"
             b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--o--\r\n")
    analysis = analyze_bytes(outer, auth=UNSIGNED_OK)
    check_rpt01(analysis)
    assert analysis.container == ("email", "gzip", "json")


# --- bombs and giants, built in memory ------------------------------------------------------

def gzip_stream(pieces: Callable[[], Any]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [compressor.compress(piece) for piece in pieces()]
    out.append(compressor.flush())
    return b"".join(out)


def test_gzip_bomb_of_one_gib_of_zeros() -> None:
    chunk = bytes(MIB)
    bomb = gzip_stream(lambda: (chunk for _ in range(1024)))
    assert len(bomb) < 2 * MIB
    analysis = guarded(bomb)
    assert (analysis.code, analysis.container) == (LIMIT_EXCEEDED, ("gzip",))


@pytest.mark.parametrize("ratio", [1000, 10 ** 9])  # ratio rule, then the 20 MiB cap alone
def test_gzip_bomb_json_prefixed(ratio: int) -> None:
    chunk = b"A" * MIB
    bomb = gzip_stream(lambda: [b'{"organization-name":"', *(chunk for _ in range(64)),
                                b'","date-range":{}}'])
    analysis = guarded(bomb, limits=Limits(max_ratio=ratio))
    assert analysis.code == LIMIT_EXCEEDED
    assert "ratio" in (analysis.reason or "") if ratio == 1000 else "exceeds" in (
        analysis.reason or "")


def test_whitespace_bomb() -> None:
    chunk = b" " * MIB
    bomb = gzip_stream(lambda: [b"{", *(chunk for _ in range(40)), b"}"])
    assert guarded(bomb).code == LIMIT_EXCEEDED


def zip_bomb(*, lie: bool) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("report.json", "w", force_zip64=False) as entry:
            chunk = b" " * MIB
            for _ in range(64):
                entry.write(chunk)
    data = bytearray(buffer.getvalue())
    if lie:  # declare 1000 bytes in the local header and in the central directory
        local = data.index(b"PK\x03\x04")
        data[local + 22:local + 26] = (1000).to_bytes(4, "little")
        central = data.index(b"PK\x01\x02")
        data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("lie", [False, True], ids=["truthful", "falsified-size"])
def test_zip_bomb(lie: bool) -> None:
    bomb = zip_bomb(lie=lie)
    assert len(bomb) < 200 * 1024
    analysis = guarded(bomb)
    assert analysis.code == LIMIT_EXCEEDED
    assert ("declares" in (analysis.reason or "")) is not lie


def test_zip_picks_json_entry() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "hello")
        archive.writestr("report.JSON", VALID)
    analysis = analyze_bytes(buffer.getvalue())
    assert analysis.accepted and analysis.container == ("zip", "json")


def test_deep_nesting() -> None:
    # a bare `[` is not JSON by the magic-byte rule of spec 7.3 (only `{` is)
    assert guarded(b"[" * 100_000, seconds=10).code == NOT_A_REPORT
    for data in (b'{"a":' + b"[" * 100_000, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        analysis = guarded(data, seconds=10)
        assert analysis.code in (JSON_SYNTAX, SCHEMA_ERROR), analysis
    assert guarded(b"{" + b'"a":{' * 100_000 + b"}" * 100_001, seconds=10).code == SCHEMA_ERROR


def test_array_of_ten_million_elements() -> None:
    giant = b'{"policies":[' + b"0," * 9_999_999 + b"0]}"
    limits = Limits(max_input=32 * MIB)  # let the array reach the parser's pre-scan
    analysis = guarded(giant, limits=limits)
    assert (analysis.code, analysis.path) == (SCHEMA_ERROR, "$")
    assert "elements" in (analysis.reason or "")
    assert guarded(giant).code == LIMIT_EXCEEDED  # default 15 MiB input cap
    strings = b'{"policies":[' + b'"",' * 1_000_000 + b'""]}'
    assert guarded(strings, seconds=10).code == SCHEMA_ERROR


# --- round trip through our own builder -----------------------------------------------------

DOMAIN = "example.net"
START = 1715040000
STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 1"),
             DOMAIN, ("mx.example.net",))
TLSA = Policy("tlsa", ("3 1 1 AB",), "mx.example.net", ())
EXPIRED = FailureDetail("certificate-expired", sending_mta_ip="192.0.2.7",
                        receiving_mx_hostname="mx.example.net", receiving_ip="2001:db8::1")
DANE = FailureDetail("dane-required", receiving_mx_hostname="mx.example.net")


def events() -> list[Event]:
    made = [Event(START + i, DOMAIN, STS, True) for i in range(7)]
    made += [Event(START + 10 + i, DOMAIN, STS, False, (EXPIRED,)) for i in range(3)]
    made += [Event(START + 20, DOMAIN, TLSA, False, (DANE,)),
             Event(START + 21, DOMAIN, TLSA, True)]
    return made


def built_message() -> tuple[bytes, Any]:
    built = build_report(events(), domain=DOMAIN, start=START, end=START + 86400,
                         organization_name="Example Org", contact_info="tlsrpt@example.org",
                         max_size=0)
    assert built.json is not None
    message = build_message(
        payload_gz=compress(built.json, 6), report_id=built.report_id, report_domain=DOMAIN,
        submitter="example.org", from_name="TLS Report", from_address="tlsrpt@example.org",
        recipients=["tlsrpt@example.net"],
        filename=filename("example.org", DOMAIN, START, START + 86400), date=START + 90000)
    return message, built


def test_round_trip_counts_and_no_warnings() -> None:
    message, built = built_message()
    analysis = analyze_bytes(message, auth=UNSIGNED_OK)
    assert analysis.accepted, analysis
    assert analysis.container == ("email", "gzip", "json")
    report = analysis.report
    assert report is not None
    assert (report.successes, report.failures, len(report.policies)) == (
        built.successes, built.failures, built.policies) == (8, 4, 2)
    assert (report.start, report.end, report.report_id) == (
        START, START + 86399, built.report_id)
    sts, tlsa = report.policies
    assert sts.failures_by_result_type == {"certificate-expired": 3}
    assert sts.details[0].receiving_ip == "2001:db8::1"
    assert tlsa.failures_by_result_type == {"dane-required": 1}
    # our own report is consistent: only the missing signature is noted
    assert [w.message.split(":")[0] for w in analysis.warnings] == ["unauthenticated"]


def test_round_trip_signed_with_dkim() -> None:
    message, _ = built_message()
    pem = (KEYS / "ed25519.example.org.pem").read_text()
    config = SignatureConfig("ed", {"private-key": pem, "domain": "example.org",
                                    "selector": "ed-2026", "algorithm": "ed25519-sha256",
                                    "canonicalization": "relaxed/relaxed"})
    signed = sign_message(message, [config])
    public = bytes(nacl.signing.SigningKey(load_private_key(pem, "ed25519-sha256")).verify_key)
    record = b"v=DKIM1; k=ed25519; s=tlsrpt; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"ed-2026._domainkey.example.org." else None

    analysis = analyze_bytes(signed, dnsfunc=dns)
    assert analysis.accepted and analysis.dkim == (True,)
    assert analysis.warnings == ()
    tampered = signed.replace(b"Subject: Report Domain", b"Subject: Forged Domain")
    failed = analyze_bytes(tampered, dnsfunc=dns)
    assert (failed.code, failed.dkim) == (AUTH_FAILED, (False,))
    lenient = analyze_bytes(tampered, dnsfunc=dns, auth=UNSIGNED_OK)
    assert lenient.accepted
    assert any("none of 1 DKIM" in w.message for w in lenient.warnings)


@pytest.mark.parametrize(("depth", "accepted"), [(16, True), (17, False)])
def test_json_depth_limit_is_exact(depth: int, accepted: bool) -> None:
    from engine.reporting.analysis.limits import Rejected
    from engine.reporting.analysis.schema import parse_json

    # the object is level 1, then depth - 1 nested arrays: the pre-scan's fast path and its
    # token-by-token scan must draw the line at the same place
    data = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    if not accepted:
        with pytest.raises(Rejected, match="nesting deeper than 16"):
            parse_json(data, Limits())
        return
    value, levels = parse_json(data, Limits()), 1
    value = value["a"]
    while isinstance(value, list):
        levels += 1
        value = value[0] if value else None
    assert levels == depth


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a": [1, 2}', "truncated JSON (unclosed array or object)"),
    (b'{"a": [1, 2}]}', "unbalanced } at byte 13"),
    (b'{"a": "x", "b": [1, 2]', "truncated JSON (unclosed array or object)"),
    (b'{"a": "x}', "unterminated string at byte 6"),
    (b'{"a": 1}}', "unbalanced } at byte 8"),
])
def test_prescan_errors_name_the_problem(data: bytes, reason: str) -> None:
    analysis = analyze_bytes(data)
    assert (analysis.code, analysis.reason) == (JSON_SYNTAX, reason)
