"""engine.reporting.intake.normalise: untrusted events to normalised `Event`s (spec/reporting.md 3.1, 3.2)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.reporting.intake.normalise import MAX_TIME, EventError, Normaliser, normalise_event
from engine.reporting.model import RESULT_TYPES, Event, FailureDetail, Policy

NOW = 1714960000


def raw_event(**changes: Any) -> dict[str, Any]:
    """A valid minimal failure event; `changes` replace top-level keys (None deletes)."""
    event: dict[str, Any] = {
        "report_domain": "example.org",
        "policy": {"type": "no-policy-found"},
        "outcome": "failure",
        "failure_details": [{"result-type": "starttls-not-supported"}],
    }
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def normalise(raw: Any) -> Event:
    event, warnings = normalise_event(raw, now=NOW)
    assert warnings == []
    return event


def detail(**fields: Any) -> FailureDetail:
    """The single detail of a failure event with these detail fields."""
    raw = raw_event(failure_details=[{"result-type": "validation-failure", **fields}])
    (found,) = normalise(raw).failure_details
    return found


def rejection(raw: Any) -> EventError:
    with pytest.raises(EventError) as caught:
        normalise_event(raw, now=NOW)
    return caught.value


# --- whole events ----------------------------------------------------------------------------

def test_minimal_event_and_defaults() -> None:
    event = normalise(raw_event())
    assert event == Event(
        time=NOW, report_domain="example.org",
        policy=Policy(type="no-policy-found", strings=(), domain="example.org", mx_hosts=()),
        success=False, failure_details=(FailureDetail("starttls-not-supported"),),
        destinations=None, event_id=None)


def test_full_event() -> None:
    event, warnings = normalise_event({
        "event_id": " s-1\n",
        "time": 1714953700,
        "report_domain": "Example.ORG.",
        "policy": {"type": "sts",
                   "strings": ["version: STSv1", "mode: enforce", "mx: mail.example.org",
                               "max_age: 604800"],
                   "mx_hosts": ["Mail.Example.org."], "domain": "EXAMPLE.org"},
        "outcome": "failure",
        "failure_details": [{
            "result-type": "certificate-expired", "sending-mta-ip": "198.51.100.1",
            "receiving-mx-hostname": "MAIL.example.org.", "receiving-mx-helo": "Mail.Example.ORG",
            "receiving-ip": "192.0.2.25", "additional-information": "https://x.example/c",
            "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED"}],
        "destinations": ["mailto:tls@example.org", "mailto:tls@example.org",
                         " https://r.example.org/t "],
        "frequency": "daily", "is_report_message": False,  # the caller's business
    }, now=NOW)
    assert warnings == []
    assert event == Event(
        time=1714953700, report_domain="example.org",
        policy=Policy("sts", ("version: STSv1", "mode: enforce", "mx: mail.example.org",
                              "max_age: 604800"), "example.org", ("mail.example.org",)),
        success=False,
        failure_details=(FailureDetail(
            result_type="certificate-expired", sending_mta_ip="198.51.100.1",
            receiving_mx_hostname="mail.example.org", receiving_mx_helo="Mail.Example.ORG",
            receiving_ip="192.0.2.25", additional_information="https://x.example/c",
            failure_reason_code="X509_V_ERR_CERT_HAS_EXPIRED"),),
        destinations=("mailto:tls@example.org", "https://r.example.org/t"),
        event_id="s-1")


def test_success_drops_details_with_a_warning() -> None:
    event, warnings = normalise_event(raw_event(outcome="success"), now=NOW)
    assert event.success and event.failure_details == ()
    assert warnings == ["failure_details: 1 detail(s) on a success dropped"]


def test_failure_may_have_zero_or_several_details() -> None:
    assert normalise(raw_event(failure_details=[])).failure_details == ()
    assert normalise(raw_event(failure_details=None)).failure_details == ()
    several = normalise(raw_event(failure_details=[
        {"result-type": "sts-policy-invalid"}, {"result-type": "sts-policy-fetch-error"}]))
    assert [d.result_type for d in several.failure_details] == [
        "sts-policy-invalid", "sts-policy-fetch-error"]


def test_unknown_keys_are_ignored_never_splatted() -> None:
    event = normalise(raw_event(__class__="x", success=True, policy={
        "type": "no-policy-found", "evil": 1},
        failure_details=[{"result-type": "dane-required", "failed-session-count": 9,
                          "result_type": "x"}]))
    assert event.failure_details == (FailureDetail("dane-required"),)
    assert not event.success


@pytest.mark.parametrize("result_type", RESULT_TYPES)
def test_every_result_type_is_accepted(result_type: str) -> None:
    (found,) = normalise(raw_event(failure_details=[{"result-type": result_type}])) \
        .failure_details
    assert found.result_type == result_type


def test_time() -> None:
    assert normalise(raw_event(time=0)).time == 0
    assert normalise(raw_event(time=MAX_TIME)).time == MAX_TIME
    assert normalise(raw_event(time=None)).time == NOW


# --- domains ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("given_domain", "expected"), [
    ("example.org", "example.org"),
    ("  Example.ORG.  ", "example.org"),
    ("\texample.org\n", "example.org"),
    ("Bücher.Example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    ("bücher\u3002example", "xn--bcher-kva.example"),   # ideographic full stop
    ("straße.de", "strasse.de"),                           # IDNA 2003 (Python's codec)
    ("☃.example", "xn--n3h.example"),
    ("_smtp._tls.example.org", "_smtp._tls.example.org"),
    ("localhost", "localhost"),
    ("a" * 63 + ".org", "a" * 63 + ".org"),
])
def test_report_domain_normalisation(given_domain: str, expected: str) -> None:
    event = normalise(raw_event(report_domain=given_domain))
    assert event.report_domain == expected
    assert event.policy.domain == expected  # the default policy domain


@pytest.mark.parametrize("bad", [
    "", "   ", ".", "example..org", ".example.org", "example.org..", "exa mple.org",
    "-example.org", "example-.org", "exa\x00mple.org", "a" * 64 + ".org",
    ".".join(["a" * 63] * 4), "xn--zz.example", "xn--ab-.example", "*.example.org",
    "exa!mple.org", "ex@mple.org",
])
def test_invalid_report_domain_rejects(bad: str) -> None:
    error = rejection(raw_event(report_domain=bad))
    assert error.path == "report_domain"


def test_missing_report_domain_rejects() -> None:
    error = rejection(raw_event(report_domain=None))
    assert (error.path, error.reason) == ("report_domain", "is required")


def test_policy_domain() -> None:
    def policy_domain(value: Any) -> str:
        return normalise(raw_event(policy={"type": "tlsa", "strings": ["3 1 1 AB"],
                                           "domain": value})).policy.domain
    assert policy_domain("MX1.Example.NET.") == "mx1.example.net"
    assert policy_domain("") == "example.org"
    assert policy_domain(" ") == "example.org"
    assert policy_domain(None) == "example.org"
    assert rejection(raw_event(policy={"type": "sts", "domain": "a..b"})).path == \
        "policy.domain"


def test_receiving_mx_hostname_is_a_domain() -> None:
    assert detail(**{"receiving-mx-hostname": " MX.Bücher.example. "}).receiving_mx_hostname \
        == "mx.xn--bcher-kva.example"
    error = rejection(raw_event(failure_details=[
        {"result-type": "tlsa-invalid"},
        {"result-type": "tlsa-invalid", "receiving-mx-hostname": "mx..example"}]))
    assert error.path == "failure_details[1].receiving-mx-hostname"


# --- policies --------------------------------------------------------------------------------

def policy_of(policy: dict[str, Any]) -> tuple[Policy, list[str]]:
    event, warnings = normalise_event(raw_event(policy=policy), now=NOW)
    return event.policy, warnings


def test_sts_lines() -> None:
    policy, _ = policy_of({"type": "sts", "strings": [
        "version:STSv1\r", "  mode :\t enforce  ", "", "   ", "no colon here",
        "mx: *.example.org", "max_age:604800\r\n", "x_ext: a: b", "bad\x00key:  v\x01w ",
        "empty:", ": lonely"]})
    assert policy.strings == ("version: STSv1", "mode: enforce", "mx: *.example.org",
                              "max_age: 604800", "x_ext: a: b", "bad key: v w", "empty: ",
                              ": lonely")


def test_sts_whole_file_in_one_string_equals_its_lines() -> None:
    lines = ["version: STSv1", "mode: testing", "mx: mx.example.org", "max_age: 86400"]
    whole, _ = policy_of({"type": "sts", "strings": ["\r\n".join(lines) + "\r\n"]})
    split, _ = policy_of({"type": "sts", "strings": lines})
    assert whole == split
    assert whole.strings == tuple(lines)


def test_sts_failure_policy_is_empty() -> None:
    policy, _ = policy_of({"type": "sts"})
    assert policy == Policy("sts", (), "example.org", ())


def test_mx_hosts() -> None:
    policy, _ = policy_of({"type": "sts", "mx_hosts": [
        "*.Example.ORG.", " mail.example.org ", "", "Bücher.example"]})
    assert policy.mx_hosts == ("*.example.org", "mail.example.org", "xn--bcher-kva.example")
    for bad, index in ((["ok.example", "mail.*.example"], 1), (["*"], 0), (["a..b"], 0),
                       (["**.example"], 0)):
        error = rejection(raw_event(policy={"type": "sts", "mx_hosts": bad}))
        assert error.path == f"policy.mx_hosts[{index}]"


def test_mx_hosts_only_on_sts() -> None:
    policy, warnings = policy_of({"type": "tlsa", "strings": ["3 1 1 ab"],
                                  "mx_hosts": ["mx.example.org"]})
    assert policy.mx_hosts == ()
    assert warnings == ["policy.mx_hosts: 1 MX host(s) on tlsa dropped"]


def test_tlsa_records_normalised_deduplicated_sorted() -> None:
    policy, _ = policy_of({"type": "tlsa", "strings": [
        "3 1 1 abcdef", "3 1 1 ABCDEF", "2 0 1 0a0b", "3 1 1 ab cd\tef", "03 001 1 ff",
        "  3  0  0  3082  "]})
    assert policy.strings == ("2 0 1 0A0B", "3 0 0 3082", "3 1 1 ABCDEF", "3 1 1 FF")


def test_tlsa_answer_order_does_not_matter() -> None:
    records = ["3 1 1 AA", "3 1 1 BB", "2 1 1 CC"]
    first, _ = policy_of({"type": "tlsa", "strings": records})
    second, _ = policy_of({"type": "tlsa", "strings": records[::-1]})
    assert first == second


@pytest.mark.parametrize("bad", [
    "3 1 1", "3 1 1 abc", "256 1 1 ab", "3 -1 1 ab", "3 1 1 zz", "3 1 1 ( ab )", "x 1 1 ab",
    "3 1 1 0x", "", "3 1 1 ab\x00",
])
def test_tlsa_rejections(bad: str) -> None:
    error = rejection(raw_event(policy={"type": "tlsa", "strings": ["3 1 1 AB", bad]}))
    assert error.path == "policy.strings[1]"


def test_no_policy_found_has_no_strings() -> None:
    policy, warnings = policy_of({"type": "no-policy-found", "strings": ["x: y"]})
    assert policy.strings == ()
    assert warnings == ["policy.strings: 1 string(s) on no-policy-found dropped"]


# --- failure-detail fields -------------------------------------------------------------------

@pytest.mark.parametrize(("given_ip", "expected"), [
    ("192.0.2.1", "192.0.2.1"),
    (" 192.0.2.1\n", "192.0.2.1"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("2001:0db8::0001", "2001:db8::1"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),     # RFC 5952: first longest run
    ("::ffff:192.0.2.1", "192.0.2.1"),                  # IPv4-mapped -> plain IPv4
    ("::FFFF:c000:0201", "192.0.2.1"),
    ("::1", "::1"),
    ("", None),
    ("  ", None),
])
def test_ip_canonicalisation(given_ip: str, expected: str | None) -> None:
    found = detail(**{"sending-mta-ip": given_ip, "receiving-ip": given_ip})
    assert found.sending_mta_ip == found.receiving_ip == expected


@pytest.mark.parametrize("bad", [
    "192.0.2.256", "01.2.3.4", "192.0.2", "fe80::1%eth0", "2001:db8::g", "example.org",
    "1.2.3.4/32",
])
@pytest.mark.parametrize("key", ["sending-mta-ip", "receiving-ip"])
def test_unparseable_ip_rejects(bad: str, key: str) -> None:
    error = rejection(raw_event(failure_details=[{"result-type": "validation-failure",
                                                  key: bad}]))
    assert error.path == f"failure_details[0].{key}"


@pytest.mark.parametrize(("given_text", "expected"), [
    ("X509_V_ERR_CERT_HAS_EXPIRED", "X509_V_ERR_CERT_HAS_EXPIRED"),
    ("  padded\t", "padded"),
    ("a\x00b\x1fc\x7fd\ne", "a b c d e"),
    ("\x01\x02", None),
    ("", None),
    ("é" * 300, "é" * 256),                              # code points, not bytes
    ("a" * 255 + " " + "b" * 10, "a" * 255),             # no trailing space after the cut
    ("\u0080 kept \u00a0", "\u0080 kept"),               # C1 is not in the replaced set
])
def test_string_fields(given_text: str, expected: str | None) -> None:
    found = detail(**{"receiving-mx-helo": given_text, "additional-information": given_text,
                      "failure-reason-code": given_text})
    assert found.receiving_mx_helo == found.additional_information == \
        found.failure_reason_code == expected


def test_helo_keeps_case_event_id_cleaned() -> None:
    assert detail(**{"receiving-mx-helo": "MX.Example.ORG"}).receiving_mx_helo == \
        "MX.Example.ORG"
    assert normalise(raw_event(event_id="\x00id\x7f")).event_id == "id"
    assert normalise(raw_event(event_id="")).event_id is None


def test_destinations() -> None:
    assert normalise(raw_event(destinations=[])).destinations == ()
    assert normalise(raw_event(destinations=["a", " a ", "", "b\x00", "b"])).destinations \
        == ("a", "b")
    long_uri = "https://r.example.org/" + "x" * 300
    assert normalise(raw_event(destinations=[long_uri])).destinations == (long_uri,)


# --- rejections ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "path"), [
    (raw_event(time=True), "time"),
    (raw_event(time="1714953600"), "time"),
    (raw_event(time=1714953600.0), "time"),
    (raw_event(time=-1), "time"),
    (raw_event(time=MAX_TIME + 1), "time"),
    (raw_event(report_domain=5), "report_domain"),
    (raw_event(report_domain=["example.org"]), "report_domain"),
    (raw_event(report_domain="bad\ud800.org"), "report_domain"),
    (raw_event(policy=None), "policy"),
    (raw_event(policy=["sts"]), "policy"),
    (raw_event(policy={}), "policy.type"),
    (raw_event(policy={"type": "STS"}), "policy.type"),
    (raw_event(policy={"type": "invalid-policy-type"}), "policy.type"),
    (raw_event(policy={"type": "sts", "strings": "version: STSv1"}), "policy.strings"),
    (raw_event(policy={"type": "sts", "strings": [1]}), "policy.strings[0]"),
    (raw_event(policy={"type": "sts", "strings": ["a: b", None]}), "policy.strings[1]"),
    (raw_event(policy={"type": "sts", "mx_hosts": "mx.example.org"}), "policy.mx_hosts"),
    (raw_event(policy={"type": "sts", "mx_hosts": [True]}), "policy.mx_hosts[0]"),
    (raw_event(policy={"type": "sts", "domain": 1}), "policy.domain"),
    (raw_event(outcome=None), "outcome"),
    (raw_event(outcome="Success"), "outcome"),
    (raw_event(outcome=True), "outcome"),
    (raw_event(failure_details={"result-type": "tlsa-invalid"}), "failure_details"),
    (raw_event(failure_details=["tlsa-invalid"]), "failure_details[0]"),
    (raw_event(failure_details=[{}]), "failure_details[0].result-type"),
    (raw_event(failure_details=[{"result-type": "Other"}]), "failure_details[0].result-type"),
    (raw_event(failure_details=[{"result-type": "certificate-expired"},
                                {"result-type": "certificate_expired"}]),
     "failure_details[1].result-type"),
    (raw_event(failure_details=[{"result-type": None}]), "failure_details[0].result-type"),
    (raw_event(failure_details=[{"result-type": "dane-required", "receiving-mx-helo": 7}]),
     "failure_details[0].receiving-mx-helo"),
    (raw_event(failure_details=[{"result-type": "dane-required",
                                 "failure-reason-code": ["x"]}]),
     "failure_details[0].failure-reason-code"),
    (raw_event(failure_details=[{"result-type": "dane-required",
                                 "additional-information": "\udfff"}]),
     "failure_details[0].additional-information"),
    (raw_event(destinations="mailto:tls@example.org"), "destinations"),
    (raw_event(destinations=["ok", None]), "destinations[1]"),
    (raw_event(event_id=17), "event_id"),
    (["not", "an", "object"], ""),
    ("{}", ""),
])
def test_rejections(raw: Any, path: str) -> None:
    error = rejection(raw)
    assert error.path == path
    assert isinstance(error, ValueError)
    assert error.reason and error.reason in str(error)


def test_error_message_names_the_path() -> None:
    error = rejection(raw_event(failure_details=[{"result-type": "nope"}]))
    assert str(error).startswith("failure_details[0].result-type: ")
    assert "'nope'" in error.reason


# --- properties ------------------------------------------------------------------------------

_messy_text = st.text(st.sampled_from(list("aZé \t\x00\x7f\r\n:.-_ß☃")), max_size=12)
_labels = st.sampled_from(["example", "EXAMPLE", "bücher", "xn--bcher-kva", "mx1", "a-b"])
_domains = st.builds(lambda labels, dot, pad: pad + ".".join(labels) + dot + pad,
                     st.lists(_labels, min_size=1, max_size=3), st.sampled_from(["", "."]),
                     st.sampled_from(["", " ", "\t"]))
_ips = st.sampled_from(["192.0.2.1", "::ffff:192.0.2.1", "2001:DB8::1", "", " ::1 "])
_details = st.fixed_dictionaries({"result-type": st.sampled_from(RESULT_TYPES)}, optional={
    "sending-mta-ip": _ips, "receiving-ip": _ips, "receiving-mx-hostname": _domains,
    "receiving-mx-helo": _messy_text, "additional-information": _messy_text,
    "failure-reason-code": st.text(max_size=300).filter(
        lambda s: not any("\ud800" <= c <= "\udfff" for c in s))})
_policies = st.one_of(
    st.fixed_dictionaries({"type": st.just("sts"), "strings": st.lists(_messy_text, max_size=4),
                           "mx_hosts": st.lists(_domains, max_size=3)},
                          optional={"domain": _domains}),
    st.fixed_dictionaries({"type": st.just("tlsa"), "strings": st.lists(st.builds(
        lambda u, s, m, h: f"{u} {s} {m} {h}", st.integers(0, 3), st.integers(0, 1),
        st.integers(0, 2), st.sampled_from(["ab", "AB", "0a0B", "ab cd"])), max_size=3)},
        optional={"domain": _domains}),
    st.fixed_dictionaries({"type": st.just("no-policy-found")}))
_raw_events = st.fixed_dictionaries(
    {"report_domain": _domains, "policy": _policies,
     "outcome": st.sampled_from(["success", "failure"])},
    optional={"time": st.integers(0, MAX_TIME), "event_id": _messy_text,
              "failure_details": st.lists(_details, max_size=3),
              "destinations": st.lists(st.sampled_from(["a", " a", "b", ""]), max_size=3)})


@given(_raw_events)
def test_normalisation_is_idempotent(raw: dict[str, Any]) -> None:
    """The stored form (`to_dict`) of a normalised event normalises to the same event."""
    event, _ = normalise_event(raw, now=NOW)
    again, warnings = normalise_event(event.to_dict(), now=NOW)
    assert again == event
    assert warnings == []
    assert Event.from_dict(event.to_dict()) == event


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)


@given(st.fixed_dictionaries({}, optional={
    "report_domain": _json | _domains, "policy": _json | _policies,
    "outcome": _json | st.just("failure"), "time": _json, "event_id": _json,
    "failure_details": _json | st.lists(_details | _json, max_size=2),
    "destinations": _json}))
def test_garbage_only_ever_raises_event_error(raw: dict[str, Any]) -> None:
    try:
        normalise_event(raw, now=NOW)
    except EventError:
        pass


# --- Normaliser: the memo of `tlsrpt record` ------------------------------------------------

def outcome(normalise: Any, raw: Any) -> tuple[Event, list[str]] | tuple[str, str]:
    try:
        return normalise(raw, now=NOW)  # type: ignore[no-any-return]
    except EventError as err:
        return err.path, err.reason


@settings(max_examples=300)
@given(st.lists(_raw_events | st.fixed_dictionaries({}, optional={
    "report_domain": _json | st.just("example.org"), "policy": _json | _policies,
    "outcome": _json | st.just("failure"), "time": _json, "event_id": _json,
    "failure_details": _json, "destinations": _json}), min_size=1, max_size=6))
def test_normaliser_equals_normalise_event(raws: list[dict[str, Any]]) -> None:
    """Each event twice through one memo (a miss, then a hit), the same results throughout,
    errors included (path and reason)."""
    normaliser = Normaliser()
    for raw in raws + raws:
        assert outcome(normaliser, raw) == outcome(normalise_event, raw)


def test_a_memo_hit_still_checks_time_and_event_id() -> None:
    normaliser = Normaliser()
    good = {"report_domain": "example.org", "policy": {"type": "no-policy-found"},
            "outcome": "success", "time": 5, "event_id": "a"}
    assert normaliser(good, now=NOW)[0].time == 5
    for changes, path in (({"time": -1}, "time"), ({"time": True}, "time"),
                          ({"event_id": 7}, "event_id")):
        with pytest.raises(EventError) as caught:
            normaliser({**good, **changes}, now=NOW)
        assert caught.value.path == path
    # an id that needs cleaning is cleaned, as by the plain path
    assert normaliser({**good, "event_id": " a\tb "}, now=NOW)[0].event_id == "a b"


def test_the_memo_is_bounded() -> None:
    normaliser = Normaliser(limit=3)
    for n in range(10):
        raw = {"report_domain": f"d{n}.example", "policy": {"type": "no-policy-found"},
               "outcome": "success"}
        assert normaliser(raw, now=NOW)[0].report_domain == f"d{n}.example"
    assert len(normaliser._memo) <= 3
