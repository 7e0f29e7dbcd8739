"""engine.reporting.send.build: aggregation, exact JSON and max-size (spec/reporting.md 1, 3, 4, 11).

Every report built here also goes through `validate_report`, a JSON round trip (same bytes,
same key order) and the null check. The max-size tests compare the linear implementation with
a brute-force reference that rebuilds and measures the document after every single change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.reporting.send.build import BuiltReport, build_report, filename, report_id
from engine.reporting.intake.normalise import normalise_event
from engine.reporting.model import RESULT_TYPES, Event, FailureDetail, Policy
from engine.reporting.send.validate import validate_report

START, END = 1714953600, 1715040000
DOMAIN = "example.org"
CONTACT = "tlsrpt@mta.example.com"
WORKED_EXAMPLE_JSON = (
    b'{"organization-name":"Example Sender","date-range":{"start-datetime":'
    b'"2024-05-06T00:00:00Z","end-datetime":"2024-05-06T23:59:59Z"},"contact-info":'
    b'"tlsrpt@mta.example.com","report-id":"1714953600_1715039999_example.org","policies":'
    b'[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",'
    b'"mx: mail.example.org","max_age: 604800"],"policy-domain":"example.org","mx-host":'
    b'["mail.example.org"]},"summary":{"total-successful-session-count":2,'
    b'"total-failure-session-count":1},"failure-details":[{"result-type":'
    b'"certificate-expired","sending-mta-ip":"198.51.100.1","receiving-mx-hostname":'
    b'"mail.example.org","receiving-ip":"192.0.2.25","failed-session-count":1,'
    b'"failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"}]}]}')

# key order of spec 1.6, written out here independently of the implementation
TOP_KEYS = ["organization-name", "date-range", "contact-info", "report-id", "policies"]
RESULT_KEYS = ["policy", "summary", "failure-details"]
POLICY_KEYS = ["policy-type", "policy-string", "policy-domain", "mx-host"]
SUMMARY_KEYS = ["total-successful-session-count", "total-failure-session-count"]
DETAIL_KEYS = ["result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
               "receiving-ip", "failed-session-count", "additional-information",
               "failure-reason-code"]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build(events: Sequence[Event], max_size: int = 0, organization_name: str | None = "Org",
          contact_info: str = CONTACT) -> BuiltReport:
    built = build_report(events, domain=DOMAIN, start=START, end=END,
                         organization_name=organization_name, contact_info=contact_info,
                         max_size=max_size)
    if built.json is not None:
        check_output(built)
    return built


def check_output(built: BuiltReport) -> None:
    """Valid RFC 8460, no null, §1.6 key order, re-dumps to the very same bytes."""
    assert built.json is not None
    parsed = json.loads(built.json)
    assert validate_report(parsed) == []
    assert dumps(parsed) == built.json
    assert list(parsed) == TOP_KEYS
    assert list(parsed["date-range"]) == ["start-datetime", "end-datetime"]
    for result in parsed["policies"]:
        assert list(result) == RESULT_KEYS
        kind = result["policy"]["policy-type"]
        assert list(result["policy"]) == POLICY_KEYS[:4 if kind == "sts" else 3]
        assert list(result["summary"]) == SUMMARY_KEYS
        for detail in result["failure-details"]:
            assert list(detail) == [key for key in DETAIL_KEYS if key in detail]
    assert parsed["report-id"] == built.report_id
    assert (built.policies, built.successes, built.failures) == (
        len(parsed["policies"]),
        sum(r["summary"]["total-successful-session-count"] for r in parsed["policies"]),
        sum(r["summary"]["total-failure-session-count"] for r in parsed["policies"]))


# --- the worked example (spec 11) --------------------------------------------------------------

def worked_example_events() -> list[Event]:
    base = {"report_domain": "example.org", "destinations": ["mailto:tls@example.org"],
            "policy": {"type": "sts", "mx_hosts": ["mail.example.org"], "strings": [
                "version: STSv1", "mode: enforce", "mx: mail.example.org", "max_age: 604800"]}}
    failure = {"result-type": "certificate-expired", "sending-mta-ip": "198.51.100.1",
               "receiving-mx-hostname": "mail.example.org", "receiving-ip": "192.0.2.25",
               "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED"}
    raws = [{**base, "time": START + 3600, "outcome": "success"},
            {**base, "time": START + 7200, "outcome": "failure", "failure_details": [failure]},
            {**base, "time": START + 86399, "outcome": "success"}]
    return [normalise_event(raw, now=0)[0] for raw in raws]


def test_worked_example_byte_for_byte() -> None:
    built = build(worked_example_events(), organization_name="Example Sender")
    assert built.json == WORKED_EXAMPLE_JSON
    assert len(built.json) == 735
    assert b"null" not in built.json
    assert built == BuiltReport(
        report_id="1714953600_1715039999_example.org", json=WORKED_EXAMPLE_JSON,
        oversize=False, omitted_details=0, omitted_policies=0, policies=1, successes=2,
        failures=1, destinations=("mailto:tls@example.org",))
    # the default max-size (25 MiB) and the exact length change nothing
    assert build(worked_example_events(), 26214400, "Example Sender").json == built.json
    assert build(worked_example_events(), 735, "Example Sender").json == built.json


def test_identifiers() -> None:
    assert report_id(DOMAIN, START, END) == "1714953600_1715039999_example.org"
    assert filename("mta.example.com", DOMAIN, START, END) == \
        "mta.example.com!example.org!1714953600!1715039999.json.gz"
    assert filename("mta.example.com", DOMAIN, START, END, "node2") == \
        "mta.example.com!example.org!1714953600!1715039999!node2.json.gz"
    assert filename("mta.example.com", DOMAIN, START, END, "") == \
        filename("mta.example.com", DOMAIN, START, END)
    for bad in ("a!b", "a.b", "a-b", "é"):
        with pytest.raises(ValueError):
            filename("mta.example.com", DOMAIN, START, END, bad)


# --- aggregation -------------------------------------------------------------------------------

STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mx.example.org", "max_age: 1"),
             DOMAIN, ("mx.example.org",))
TLSA = Policy("tlsa", ("3 1 1 AB",), "mx.example.org", ())
NONE = Policy("no-policy-found", (), DOMAIN, ())


def ev(policy: Policy, *details: FailureDetail, success: bool = False, offset: int = 0,
       destinations: tuple[str, ...] | None = None) -> Event:
    return Event(time=START + offset, report_domain=DOMAIN, policy=policy, success=success,
                 failure_details=details, destinations=destinations)


def parsed(built: BuiltReport) -> dict[str, Any]:
    assert built.json is not None
    result: dict[str, Any] = json.loads(built.json)
    return result


def test_policies_ordered_by_first_event_and_counted() -> None:
    a = FailureDetail("starttls-not-supported")
    built = build([ev(TLSA, success=True), ev(STS, a), ev(TLSA, success=True), ev(NONE, a),
                   ev(STS, success=True), ev(STS, a)])
    results = parsed(built)["policies"]
    assert [r["policy"]["policy-type"] for r in results] == ["tlsa", "sts", "no-policy-found"]
    assert [list(r["summary"].values()) for r in results] == [[2, 0], [1, 2], [0, 1]]
    assert results[1]["failure-details"] == [
        {"result-type": "starttls-not-supported", "failed-session-count": 2}]
    assert results[0]["policy"] == {"policy-type": "tlsa", "policy-string": ["3 1 1 AB"],
                                    "policy-domain": "mx.example.org"}  # no mx-host
    assert results[2]["policy"] == {"policy-type": "no-policy-found", "policy-string": [],
                                    "policy-domain": DOMAIN}
    assert (built.policies, built.successes, built.failures) == (3, 3, 3)


def test_policy_key_uses_every_component() -> None:
    variants = [STS, Policy(STS.type, STS.strings, "other.example", STS.mx_hosts),
                Policy(STS.type, STS.strings[::-1], STS.domain, STS.mx_hosts),
                Policy(STS.type, STS.strings, STS.domain, ("a.example", "b.example")),
                Policy(STS.type, STS.strings, STS.domain, ("b.example", "a.example"))]
    built = build([ev(policy, success=True) for policy in variants + variants])
    assert built.policies == len(variants)
    assert all(r["summary"]["total-successful-session-count"] == 2
               for r in parsed(built)["policies"])


def test_detail_order_count_then_first_occurrence() -> None:
    a, b, c, d = (FailureDetail("validation-failure", failure_reason_code=code)
                  for code in "abcd")
    # first occurrences: c (event 0), a (event 1, index 0), d (event 1, index 1), b (event 2)
    built = build([ev(STS, c), ev(STS, a, d), ev(STS, b), ev(STS, b), ev(STS, a)])
    details = parsed(built)["policies"][0]["failure-details"]
    assert [(x["failure-reason-code"], x["failed-session-count"]) for x in details] == [
        ("a", 2), ("b", 2), ("c", 1), ("d", 1)]
    assert parsed(built)["policies"][0]["summary"]["total-failure-session-count"] == 5


def test_failure_key_absent_differs_from_present() -> None:
    bare = FailureDetail("certificate-not-trusted")
    with_ip = FailureDetail("certificate-not-trusted", receiving_ip="192.0.2.1")
    with_helo = FailureDetail("certificate-not-trusted", receiving_mx_helo="192.0.2.1")
    built = build([ev(STS, bare), ev(STS, with_ip), ev(STS, with_helo), ev(STS, with_ip)])
    details = parsed(built)["policies"][0]["failure-details"]
    assert details == [
        {"result-type": "certificate-not-trusted", "receiving-ip": "192.0.2.1",
         "failed-session-count": 2},
        {"result-type": "certificate-not-trusted", "failed-session-count": 1},
        {"result-type": "certificate-not-trusted", "receiving-mx-helo": "192.0.2.1",
         "failed-session-count": 1}]


def test_several_details_per_failure_and_none() -> None:
    a, b = FailureDetail("sts-policy-invalid"), FailureDetail("sts-policy-fetch-error")
    result = parsed(build([ev(STS, a, b), ev(STS)]))["policies"][0]
    assert result["summary"] == {"total-successful-session-count": 0,
                                 "total-failure-session-count": 2}
    assert [x["failed-session-count"] for x in result["failure-details"]] == [1, 1]


def test_details_on_a_success_are_not_counted() -> None:
    # intake drops them; an Event built directly must not sneak them in either
    result = parsed(build([ev(STS, FailureDetail("dane-required"), success=True)]))
    assert result["policies"][0]["failure-details"] == []


def test_all_detail_fields_in_spec_order_with_escaping() -> None:
    full = FailureDetail("validation-failure", "2001:db8::1", "mx.example.org", 'H"\\é\x01',
                         "192.0.2.1", "https://e.example/x?a=b", "Ünïcode ✓")
    built = build([ev(TLSA, full)])
    assert built.json is not None
    assert ('"failure-details":[{"result-type":"validation-failure","sending-mta-ip":'
            '"2001:db8::1","receiving-mx-hostname":"mx.example.org","receiving-mx-helo":'
            '"H\\"\\\\é\\u0001","receiving-ip":"192.0.2.1","failed-session-count":1,'
            '"additional-information":"https://e.example/x?a=b","failure-reason-code":'
            '"Ünïcode ✓"}]').encode() in built.json


def test_destinations_union_first_seen() -> None:
    built = build([ev(STS, success=True, destinations=("mailto:a@x", "https://b")),
                   ev(STS, success=True),
                   ev(STS, success=True, destinations=("https://b", "mailto:c@x", "mailto:a@x"))])
    assert built.destinations == ("mailto:a@x", "https://b", "mailto:c@x")
    assert build([ev(STS, success=True)]).destinations is None
    assert build([ev(STS, success=True, destinations=())]).destinations == ()


def test_organization_name() -> None:
    assert parsed(build([ev(STS, success=True)], organization_name="Ex Ltd"))[
        "organization-name"] == "Ex Ltd"
    # unset: the sender's side (contact-info's domain = the submitter), never the report
    # domain (the receiver) and never null
    for unset in (None, ""):
        assert parsed(build([ev(STS, success=True)], organization_name=unset))[
            "organization-name"] == "mta.example.com"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"events": []}, "at least one event"),
    ({"events": [Event(START, "other.example", STS, True)]}, "report key"),
    ({"events": [ev(STS, success=True, offset=END - START)]}, "report key"),
    ({"events": [ev(STS, success=True, offset=-1)]}, "report key"),
    ({"max_size": -1}, "max-size"),
    ({"max_size": True}, "max-size"),
    ({"contact_info": ""}, "contact-info"),
    ({"end": START}, "empty window"),
])
def test_refused_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "events": [ev(STS, success=True)], "domain": DOMAIN, "start": START, "end": END,
        "organization_name": "Org", "contact_info": CONTACT, "max_size": 0}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_report(arguments.pop("events"), **arguments)


# --- max-size at the boundaries (spec 4) -------------------------------------------------------

D1 = FailureDetail("certificate-expired", receiving_ip="192.0.2.1")
D2 = FailureDetail("certificate-not-trusted", failure_reason_code="X509_V_ERR_X")
D3 = FailureDetail("tlsa-invalid", receiving_mx_hostname="mx.example.org")
TWO_POLICIES = [ev(STS, D1), ev(STS, D1), ev(STS, D2), ev(STS, success=True), ev(TLSA, D3),
                ev(TLSA, success=True)]


def size_without(doc: dict[str, Any], policies: int, details: Sequence[int]) -> int:
    """Length of `doc` keeping the first `policies` entries and `details[i]` details of each."""
    shrunk = copy.deepcopy(doc)
    shrunk["policies"] = shrunk["policies"][:policies]
    for result, keep in zip(shrunk["policies"], details):
        result["failure-details"] = result["failure-details"][:keep]
    return len(dumps(shrunk))


def test_exact_length_fits_and_one_less_drops_the_last_detail() -> None:
    full = build(TWO_POLICIES)
    assert full.json is not None
    length = len(full.json)
    assert build(TWO_POLICIES, max_size=length) == full
    cut = build(TWO_POLICIES, max_size=length - 1)
    doc = parsed(full)
    assert cut.json is not None
    assert len(cut.json) == size_without(doc, 2, [2, 0]) <= length - 1
    expected = copy.deepcopy(doc)
    expected["policies"][1]["failure-details"] = []
    assert cut.json == dumps(expected)  # summaries untouched
    assert (cut.omitted_details, cut.omitted_policies, cut.policies) == (1, 0, 2)
    assert (cut.successes, cut.failures) == (full.successes, full.failures) == (2, 4)


def test_fill_is_exact_to_the_byte() -> None:
    doc = parsed(build(TWO_POLICIES))
    exact = size_without(doc, 2, [1, 0])  # skeleton + D1 (no comma: first in its array)
    built = build(TWO_POLICIES, max_size=exact)
    assert built.json is not None and len(built.json) == exact
    assert built.omitted_details == 2
    assert len(build(TWO_POLICIES, max_size=exact - 1).json or b"") == size_without(
        doc, 2, [0, 0])


def test_fill_stops_at_the_first_detail_that_does_not_fit() -> None:
    big = FailureDetail("validation-failure", failure_reason_code="x" * 200)
    small = FailureDetail("starttls-not-supported")
    events = [ev(STS, big), ev(TLSA, small)]
    doc = parsed(build(events))
    # room for the small detail of the second policy, not for the big one of the first
    room = size_without(doc, 2, [0, 1])
    built = build(events, max_size=room)
    assert parsed(built)["policies"][1]["failure-details"] == []
    assert parsed(built)["policies"][0]["failure-details"] == []
    assert built.omitted_details == 2 and built.policies == 2


def test_skeleton_drops_the_last_policy() -> None:
    doc = parsed(build(TWO_POLICIES))
    one_policy = size_without(doc, 1, [0])
    two_skeletons = size_without(doc, 2, [0, 0])
    built = build(TWO_POLICIES, max_size=two_skeletons - 1)
    assert (built.policies, built.omitted_policies) == (1, 1)
    assert [r["policy"]["policy-type"] for r in parsed(built)["policies"]] == ["sts"]
    # only STS's totals remain; the TLSA policy disappears entirely with its detail
    assert (built.successes, built.failures) == (1, 3)
    assert parsed(built)["policies"][0]["summary"] == doc["policies"][0]["summary"]
    # the bytes the TLSA skeleton freed go to STS's details, in order
    kept_details = len(parsed(built)["policies"][0]["failure-details"])
    assert built.json == reference_fit(doc, two_skeletons - 1)
    assert built.omitted_details == 3 - kept_details
    assert len(built.json or b"") == size_without(doc, 1, [kept_details])
    exact = build(TWO_POLICIES, max_size=one_policy)
    assert exact.json is not None and len(exact.json) == one_policy
    assert (exact.policies, exact.omitted_details, exact.omitted_policies) == (1, 3, 1)


def test_oversize() -> None:
    doc = parsed(build(TWO_POLICIES))
    one_policy = size_without(doc, 1, [0])
    built = build(TWO_POLICIES, max_size=one_policy - 1)
    assert built == BuiltReport(
        report_id="1714953600_1715039999_example.org", json=None, oversize=True,
        omitted_details=3, omitted_policies=2, policies=0, successes=0, failures=0,
        destinations=None)
    assert build(TWO_POLICIES, max_size=1).oversize


def test_multibyte_text_is_measured_in_bytes() -> None:
    detail = FailureDetail("validation-failure", failure_reason_code="é" * 100)
    full = build([ev(STS, detail)])
    assert full.json is not None
    doc = parsed(full)
    # 100 code points but 200 bytes: a code-point budget would wrongly keep the detail
    built = build([ev(STS, detail)], max_size=len(full.json) - 1)
    assert built.json == dumps({**doc, "policies": [{**doc["policies"][0],
                                                     "failure-details": []}]})


# --- the bound, against a brute-force reference (hypothesis) -----------------------------------

def reference_document(events: Sequence[Event], organization_name: str) -> dict[str, Any]:
    """Spec 1, 3.4-3.7 straight from the text: linear searches, explicit key order."""
    entries: list[dict[str, Any]] = []
    for event in events:
        key = (event.policy.type, event.policy.strings, event.policy.domain,
               event.policy.mx_hosts)
        entry = next((e for e in entries if e["key"] == key), None)
        if entry is None:
            entry = {"key": key, "policy": event.policy, "ok": 0, "failed": 0, "details": []}
            entries.append(entry)
        if event.success:
            entry["ok"] += 1
            continue
        entry["failed"] += 1
        for detail in event.failure_details:
            found = next((d for d in entry["details"] if d[0] == detail.key()), None)
            if found is None:
                found = [detail.key(), 0]
                entry["details"].append(found)
            found[1] += 1

    def detail_object(key: tuple[str | None, ...], count: int) -> dict[str, Any]:
        names = ["result-type", "sending-mta-ip", "receiving-mx-hostname",
                 "receiving-mx-helo", "receiving-ip", "additional-information",
                 "failure-reason-code"]
        values = dict(zip(names, key))
        values["failed-session-count"] = count
        return {name: values[name] for name in DETAIL_KEYS if values[name] is not None}

    def result(entry: dict[str, Any]) -> dict[str, Any]:
        policy: Policy = entry["policy"]
        policy_object: dict[str, Any] = {
            "policy-type": policy.type, "policy-string": list(policy.strings),
            "policy-domain": policy.domain}
        if policy.type == "sts":
            policy_object["mx-host"] = list(policy.mx_hosts)
        ranked = sorted(enumerate(entry["details"]), key=lambda pair: (-pair[1][1], pair[0]))
        return {"policy": policy_object,
                "summary": {"total-successful-session-count": entry["ok"],
                            "total-failure-session-count": entry["failed"]},
                "failure-details": [detail_object(*pair) for _, pair in ranked]}

    def date(t: int) -> str:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {"organization-name": organization_name,
            "date-range": {"start-datetime": date(START), "end-datetime": date(END - 1)},
            "contact-info": CONTACT, "report-id": f"{START}_{END - 1}_{DOMAIN}",
            "policies": [result(entry) for entry in entries]}


def reference_fit(doc: dict[str, Any], max_size: int) -> bytes | None:
    """Spec 4 by brute force: serialise and measure after every removal and every append."""
    if max_size == 0 or len(dumps(doc)) <= max_size:
        return dumps(doc)
    skeleton = copy.deepcopy(doc)
    all_details = [result["failure-details"] for result in skeleton["policies"]]
    for result in skeleton["policies"]:
        result["failure-details"] = []
    while len(dumps(skeleton)) > max_size and len(skeleton["policies"]) > 1:
        skeleton["policies"].pop()
    if len(dumps(skeleton)) > max_size:
        return None
    for result, details in zip(skeleton["policies"], all_details):
        for detail in details:
            result["failure-details"].append(detail)
            if len(dumps(skeleton)) > max_size:
                result["failure-details"].pop()
                return dumps(skeleton)
    return dumps(skeleton)


# escapes (quote, backslash, controls) and multi-byte characters change byte lengths
_text = st.text(st.sampled_from(list('ab"\\\x01\x7fé€😀 ')), min_size=1, max_size=20)
_maybe_text = st.none() | _text
_policy = st.builds(Policy, st.sampled_from(["sts", "tlsa", "no-policy-found"]),
                    st.lists(_text, max_size=3).map(tuple), st.sampled_from([DOMAIN, "mx.x"]),
                    st.lists(_text, max_size=2).map(tuple))
_detail = st.builds(FailureDetail, st.sampled_from(RESULT_TYPES),
                    st.none() | st.sampled_from(["192.0.2.1", "2001:db8::1"]), _maybe_text,
                    _maybe_text, st.none() | st.just("198.51.100.7"), _maybe_text, _maybe_text)


@st.composite
def reports(draw: st.DrawFn) -> list[Event]:
    policies = draw(st.lists(_policy, min_size=1, max_size=4))
    details = draw(st.lists(_detail, min_size=1, max_size=6))
    events = []
    for _ in range(draw(st.integers(1, 25))):
        success = draw(st.booleans())
        chosen = () if success else tuple(
            draw(st.lists(st.sampled_from(details), max_size=3)))
        policy = draw(st.sampled_from(policies))
        # mx-host only exists on sts, as intake guarantees
        if policy.type != "sts":
            policy = Policy(policy.type, policy.strings, policy.domain, ())
        events.append(ev(policy, *chosen, success=success,
                         offset=draw(st.integers(0, END - START - 1))))
    return events


@settings(max_examples=400, deadline=None)
@given(reports(), st.data())
def test_max_size_bound_and_reference(events: list[Event], data: st.DataObject) -> None:
    full = build(events)
    assert full.json is not None
    reference = reference_document(events, "Org")
    assert full.json == dumps(reference)
    length = len(full.json)
    # mostly between the smallest report (one policy, no details) and the full one, where
    # the interesting cases are; sometimes anywhere, to reach OVERSIZE and "unlimited"
    smallest = size_without(reference, 1, [0])
    max_size = data.draw(st.one_of(st.integers(0, length + 10),
                                   st.integers(max(0, smallest - 3), length),
                                   st.integers(max(0, smallest - 3), length)), "max_size")
    built = build(events, max_size=max_size)
    expected = reference_fit(reference, max_size)
    assert built.json == expected
    assert built.oversize == (expected is None)
    if built.json is None:
        assert max_size > 0
        return
    assert max_size == 0 or len(built.json) <= max_size
    kept = json.loads(built.json)["policies"]
    all_results = reference["policies"]
    # summaries are never changed: the kept policies are a prefix with their full counts
    assert [r["summary"] for r in kept] == [r["summary"] for r in all_results[:len(kept)]]
    assert built.omitted_policies == len(all_results) - len(kept)
    assert built.omitted_details == (sum(len(r["failure-details"]) for r in all_results)
                                     - sum(len(r["failure-details"]) for r in kept))


# --- the validator itself ----------------------------------------------------------------------

def broken(change: Any) -> list[str]:
    """The validator's verdict on the worked example after `change(doc)`."""
    doc = json.loads(WORKED_EXAMPLE_JSON)
    change(doc)
    return validate_report(doc)


def policy0(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["policies"][0]
    return result


def detail0(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["policies"][0]["failure-details"][0]
    return result


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d.pop("contact-info"), "$: missing required key 'contact-info'"),
    (lambda d: d.update({"contact-info": None}), "$.contact-info: null"),
    (lambda d: d.update({"extra": 1}), "$: unknown key 'extra'"),
    (lambda d: d.update({"report-id": ""}), "$.report-id: must not be empty"),
    (lambda d: d.update({"policies": []}), "$.policies: must have at least one element"),
    (lambda d: d.update({"policies": {}}), "$.policies: must be an array"),
    (lambda d: d["date-range"].update({"start-datetime": "2024-05-06T00:00:00+00:00"}),
     "$.date-range.start-datetime: must be"),
    (lambda d: d["date-range"].update({"end-datetime": "2024-02-30T00:00:00Z"}),
     "$.date-range.end-datetime: not a real date-time"),
    (lambda d: d["date-range"].update({"end-datetime": "2024-05-05T23:59:59Z"}),
     "$.date-range: end-datetime is before start-datetime"),
    (lambda d: policy0(d)["policy"].update({"policy-type": "dane"}),
     "$.policies[0].policy.policy-type"),
    (lambda d: policy0(d)["policy"].pop("mx-host"),
     "$.policies[0].policy: missing required key 'mx-host'"),
    (lambda d: policy0(d)["policy"].update({"policy-type": "tlsa"}),
     "$.policies[0].policy: unknown key 'mx-host'"),
    (lambda d: policy0(d)["policy"].update({"policy-string": ["ok", 3]}),
     "$.policies[0].policy.policy-string[1]: must be a string"),
    (lambda d: policy0(d)["summary"].update({"total-failure-session-count": -1}),
     "$.policies[0].summary.total-failure-session-count: must be >= 0"),
    (lambda d: policy0(d)["summary"].update({"total-successful-session-count": True}),
     "$.policies[0].summary.total-successful-session-count: must be an integer"),
    (lambda d: policy0(d)["summary"].update({"total-successful-session-count": 2.0}),
     "$.policies[0].summary.total-successful-session-count: must be an integer"),
    (lambda d: policy0(d).pop("failure-details"),
     "$.policies[0]: missing required key 'failure-details'"),
    (lambda d: detail0(d).update({"result-type": "Other"}),
     "$.policies[0].failure-details[0].result-type"),
    (lambda d: detail0(d).update({"failed-session-count": 0}),
     "$.policies[0].failure-details[0].failed-session-count: must be >= 1"),
    (lambda d: detail0(d).pop("failed-session-count"),
     "$.policies[0].failure-details[0]: missing required key 'failed-session-count'"),
    (lambda d: detail0(d).update({"receiving-ip": "::ffff:192.0.2.25"}),
     "$.policies[0].failure-details[0].receiving-ip: not in canonical form"),
    (lambda d: detail0(d).update({"sending-mta-ip": "2001:DB8::1"}),
     "$.policies[0].failure-details[0].sending-mta-ip: not in canonical form"),
    (lambda d: detail0(d).update({"receiving-ip": "mail"}),
     "$.policies[0].failure-details[0].receiving-ip: not an IP address"),
    (lambda d: detail0(d).update({"receiving-mx-helo": None}),
     "$.policies[0].failure-details[0].receiving-mx-helo: null"),
    (lambda d: detail0(d).update({"failure_reason_code": "x"}),
     "$.policies[0].failure-details[0]: unknown key 'failure_reason_code'"),
])
def test_validator_catches(change: Any, path: str) -> None:
    errors = broken(change)
    assert any(error.startswith(path) for error in errors), errors


def test_validator_on_non_objects() -> None:
    assert validate_report(None) == ["$: null is never emitted", "$: must be an object, not null"]
    assert validate_report([]) == ["$: must be an object, not list"]
    assert validate_report(json.loads(WORKED_EXAMPLE_JSON)) == []
