"""Decoding libtlsrpt datagrams (spec/reporting.md 8.2-8.5): engine.reporting.intake.datagram."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.reporting.intake.datagram import DatagramError, DropReason, decode_datagram
from engine.reporting.model import FailureDetail

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "handmade-collector-datagram.json"
T = 1_714_953_600
RECORD = "v=TLSRPTv1;rua=mailto:tlsrpt@example.org"


def datagram(policies: list[dict[str, Any]] | None = None, **top: Any) -> bytes:
    """A datagram in libtlsrpt's key order; `top` adds, replaces or (None) removes keys."""
    document: dict[str, Any] = {"dpv": "1", "d": "example.org", "pr": RECORD,
                                "policies": policies if policies is not None else [
                                    {"policy-type": 9, "t": 0, "f": 0}]}
    for key, value in top.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document).encode()


def sts(**fields: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {"policy-type": 2, "policy-domain": "example.org",
                              "policy-string": ["version: STSv1", "mode: enforce",
                                                "mx: mail.example.org", "max_age: 86400"],
                              "mx-host": ["mail.example.org"], "t": 0, "f": 0}
    policy.update(fields)
    return policy


def drop_reason(data: bytes) -> DropReason:
    with pytest.raises(DatagramError) as caught:
        decode_datagram(data, received_at=T)
    return caught.value.reason


def test_the_fixture_gives_the_events_of_spec_8_5() -> None:
    decoded = decode_datagram(FIXTURE.read_bytes(), received_at=T)
    assert decoded.warnings == () and decoded.policies_dropped == 0
    failed, tlsa = decoded.events
    # one sts event, failed, carrying both details with their result types mapped
    assert failed.policy.type == "sts" and not failed.success and failed.time == T
    assert failed.report_domain == "company-y.example"
    assert failed.policy.mx_hosts == ("*.mail.company-y.example", "*.mail2.company-y.example")
    assert failed.failure_details == (
        FailureDetail("sts-policy-invalid", "1.2.3.4", "mailin.example.com",
                      "test-ehlo.example.com", "11.22.33.44",
                      "This is additional information", "999 TEST ERROR"),
        FailureDetail("sts-webpki-invalid", "1.2.3.5", "mailin.example.com",
                      "test-ehlo.example.com", "11.22.33.55",
                      "This is additional information", "999 TEST ERROR"))
    assert failed.destinations == ("mailto:tlsrpt@company-y.example",)
    assert failed.event_id is None
    # one successful tlsa event, its records in canonical (sorted) order
    assert tlsa.policy.type == "tlsa" and tlsa.success and tlsa.failure_details == ()
    assert tlsa.policy.strings == tuple(sorted(tlsa.policy.strings))
    assert tlsa.policy.domain == "company-y.example"


def test_every_event_gets_its_own_receipt_time_even_from_identical_bytes() -> None:
    data = FIXTURE.read_bytes()
    first = decode_datagram(data, received_at=T)
    second = decode_datagram(data, received_at=T + 3600)
    assert [event.time for event in first.events] == [T, T]
    assert [event.time for event in second.events] == [T + 3600, T + 3600]
    assert [e.policy for e in first.events] == [e.policy for e in second.events]


def test_domain_is_normalised_and_policy_domain_defaults_to_it() -> None:
    decoded = decode_datagram(datagram(d="B\u00fccher.Example."), received_at=T)
    (event,) = decoded.events
    assert event.report_domain == "xn--bcher-kva.example"
    assert event.policy.domain == "xn--bcher-kva.example"  # Postfix omits it for type 9
    assert event.policy.type == "no-policy-found" and event.success


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"dpv": "1","d": "\xff"}', DropReason.NOT_UTF8),
    (b'{"dpv": "1","d": "example.org"', DropReason.NOT_JSON),
    (b"", DropReason.NOT_JSON),
    (b'["dpv"]', DropReason.NOT_OBJECT),
    (b"[" * 100_000, DropReason.NOT_JSON),
    (datagram(dpv="2"), DropReason.UNKNOWN_VERSION),
    (datagram(dpv=1), DropReason.UNKNOWN_VERSION),
    (datagram(d=None), DropReason.NO_DOMAIN),
    (datagram(d=""), DropReason.NO_DOMAIN),
    (datagram(d=["example.org"]), DropReason.NO_DOMAIN),
    (datagram(d="exa mple..org"), DropReason.BAD_DOMAIN),
    (datagram(policies=[]), DropReason.NO_POLICIES),
    (datagram(pr=None), DropReason.BAD_RECORD),
    (datagram(pr="v=TLSRPTv1"), DropReason.BAD_RECORD),
    (datagram(pr="v=TLSRPTv1; rua=ftp://example.org/r"), DropReason.BAD_RECORD),
    (datagram(pr="v=TLSRPTv1;;rua=mailto:a@example.org"), DropReason.BAD_RECORD),
    (datagram(policies=[{"policy-type": 7, "t": 0, "f": 0}]), DropReason.NO_USABLE_POLICY),
])
def test_datagrams_that_are_dropped_whole(data: bytes, reason: DropReason) -> None:
    assert drop_reason(data) is reason


def test_a_missing_policies_key_is_dropped() -> None:
    data = json.dumps({"dpv": "1", "d": "example.org", "pr": RECORD}).encode()
    assert drop_reason(data) is DropReason.NO_POLICIES


def test_missing_dpv_is_read_as_version_1_with_a_warning() -> None:
    decoded = decode_datagram(datagram(dpv=None), received_at=T)
    assert len(decoded.events) == 1
    assert any("no dpv" in warning for warning in decoded.warnings)


def test_an_unknown_policy_type_drops_only_that_policy() -> None:
    decoded = decode_datagram(datagram([{"policy-type": 3, "t": 0, "f": 1}, sts()]),
                              received_at=T)
    assert [event.policy.type for event in decoded.events] == ["sts"]
    assert decoded.policies_dropped == 1
    assert any("policies[0]: dropped: unknown policy-type 3" in w for w in decoded.warnings)


def test_a_policy_intake_rejects_is_dropped_and_named_in_datagram_terms() -> None:
    bad = {"policy-type": 1, "policy-string": ["3 1 1 not-hex"], "t": 0, "f": 0}
    decoded = decode_datagram(datagram([bad, sts()]), received_at=T)
    assert [event.policy.type for event in decoded.events] == ["sts"]
    assert any("policies[0]: dropped: policy-string[0]" in w for w in decoded.warnings)


def test_unknown_result_codes_become_validation_failures() -> None:
    details = [{"c": 299, "n": "mx.example.org", "f": "TLS alert 80"},
               {"c": 777},
               {"s": "192.0.2.1"}]
    decoded = decode_datagram(datagram([sts(**{"failure-details": details, "t": 3, "f": 1})]),
                              received_at=T)
    (event,) = decoded.events
    assert [(d.result_type, d.failure_reason_code) for d in event.failure_details] == [
        ("validation-failure", "TLS alert 80"),
        ("validation-failure", "libtlsrpt-code-777"),
        ("validation-failure", "libtlsrpt-code-missing")]
    assert event.failure_details[2].sending_mta_ip == "192.0.2.1"
    assert sum("unknown" in warning for warning in decoded.warnings) == 3


def test_every_known_code_maps_to_its_result_type() -> None:
    codes = {201: "starttls-not-supported", 202: "certificate-host-mismatch",
             203: "certificate-not-trusted", 204: "certificate-expired",
             205: "validation-failure", 301: "sts-policy-fetch-error",
             302: "sts-policy-invalid", 303: "sts-webpki-invalid", 304: "tlsa-invalid",
             305: "dnssec-invalid", 306: "dane-required"}
    details = [{"c": code} for code in codes]
    (event,) = decode_datagram(datagram([sts(**{"failure-details": details,
                                                "t": len(details), "f": 1})]),
                               received_at=T).events
    assert [detail.result_type for detail in event.failure_details] == list(codes.values())
    assert all(detail.failure_reason_code is None for detail in event.failure_details)


def test_details_on_a_success_are_dropped_and_a_failure_may_have_none() -> None:
    success = sts(**{"failure-details": [{"c": 202}], "t": 1, "f": 0})
    bare_failure = {"policy-type": 9, "t": 0, "f": 1}
    decoded = decode_datagram(datagram([success, bare_failure]), received_at=T)
    ok, failed = decoded.events
    assert ok.success and ok.failure_details == ()
    assert not failed.success and failed.failure_details == ()
    assert any("on a success dropped" in warning for warning in decoded.warnings)


def test_a_t_mismatch_is_only_a_warning() -> None:
    decoded = decode_datagram(datagram([sts(**{"failure-details": [{"c": 204}], "t": 2,
                                               "f": 1})]), received_at=T)
    assert len(decoded.events[0].failure_details) == 1
    assert any("t is 2 but 1 failure details came" in w for w in decoded.warnings)


def test_mx_hosts_on_a_tlsa_policy_are_dropped_with_a_warning() -> None:
    tlsa = {"policy-type": 1, "policy-domain": "mx.example.org",
            "policy-string": ["3 1 1 ab"], "mx-host": ["mx.example.org"], "t": 0, "f": 0}
    decoded = decode_datagram(datagram([tlsa]), received_at=T)
    (event,) = decoded.events
    assert event.policy.mx_hosts == () and event.policy.domain == "mx.example.org"
    assert event.policy.strings == ("3 1 1 AB",)
    assert any("mx-host" in warning for warning in decoded.warnings)


def test_control_characters_escaped_by_libtlsrpt_are_cleaned() -> None:
    # libtlsrpt writes bytes below 0x20 as \u00XX; intake turns them into spaces (spec 3.2)
    raw = (b'{"dpv": "1","d": "example.org","pr": "' + RECORD.encode() + b'","policies":[{'
           b'"policy-type":2,"policy-domain": "example.org","failure-details":[{"c":201,'
           b'"h": "evil\\u0007helo\\r\\n"}],"t":1,"f":1}]}')
    (event,) = decode_datagram(raw, received_at=T).events
    assert event.failure_details[0].receiving_mx_helo == "evil helo"


def test_the_record_gives_the_destinations() -> None:
    record = "v=TLSRPTv1; rua=mailto:a@example.org,https://r.example.org/t?k=a=b"
    (event,) = decode_datagram(datagram(pr=record), received_at=T).events
    assert event.destinations == ("mailto:a@example.org", "https://r.example.org/t?k=a=b")


# --- review: hostile numbers, and what the memo may hold -------------------------------------

@pytest.mark.parametrize("number", ["1" * 5000, "-" + "9" * 4301])
def test_an_integer_too_long_for_python_is_invalid_json_not_an_exception(number: str) -> None:
    # json.loads raises a plain ValueError (int digit limit), not JSONDecodeError
    data = datagram().replace(b'"policy-type": 9', b'"policy-type": ' + number.encode())
    assert number.encode() in data
    assert drop_reason(data) is DropReason.NOT_JSON


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(literal: str) -> None:
    # spec 8.2: invalid JSON -> drop (Python's json accepts these literals by default)
    data = datagram().replace(b'"f": 0', b'"f": ' + literal.encode())
    assert literal.encode() in data
    assert drop_reason(data) is DropReason.NOT_JSON


@pytest.mark.parametrize("final", [1.0, 0.0, True])
def test_f_and_t_must_be_integers_not_floats_or_booleans(final: Any) -> None:
    # spec 8.3: `f` and `t` are integers; a float or boolean is warned about like any other
    # value that is not 0 or 1 (and read as success), never silently taken for one
    decoded = decode_datagram(datagram([sts(f=final, t=0)]), received_at=T)
    assert decoded.events[0].success
    assert any(f"f is {final!r}, not 0 or 1" in w for w in decoded.warnings)
    for announced in (True, 1.0):
        policy = sts(**{"failure-details": [{"c": 204}], "t": announced, "f": 1})
        warnings = decode_datagram(datagram([policy]), received_at=T).warnings
        assert any(f"t is {announced!r} but 1 failure details came" in w for w in warnings)


def test_large_datagrams_are_not_kept_by_the_memo() -> None:
    # the memo is for the small datagrams an MTA repeats; 4096 distinct datagrams of the
    # default 1 MiB max-datagram (or their events) must not stay in memory
    import tracemalloc

    from engine.reporting.intake.datagram import _decode_cached

    _decode_cached.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(10):
            padded = datagram(x=f"{number}" * (1 << 20))
            assert len(decode_datagram(padded, received_at=T).events) == 1
            many = datagram([{"policy-type": 9, "t": 0, "f": 0, "n": number}] * 5_000)
            assert len(decode_datagram(many, received_at=T).events) == 5_000
            del padded, many
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        _decode_cached.cache_clear()
    assert retained < 4 * 1024 * 1024, f"{retained / 1024 / 1024:.1f} MiB retained"
    # the small datagrams an MTA repeats are still decoded once
    small = datagram([sts()])
    decode_datagram(small, received_at=T)
    decode_datagram(small, received_at=T + 1)
    assert _decode_cached.cache_info().hits == 1
