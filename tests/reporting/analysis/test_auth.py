"""Authentication of emailed reports (spec/reporting.md 7.6): DKIM verified by dkimpy through an
injected DNS function, the default (required), alignment with TLS-Report-Submitter, and the
tlsrpt service restriction of the key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import nacl.signing
import pytest

from engine.config.signatures import SignatureConfig, load_private_key
from engine.reporting.analysis.analyze import AUTH_FAILED, Authentication, analyze_bytes
from engine.reporting.analysis.auth import aligned
from engine.reporting.send.build import build_report, filename
from engine.reporting.send.message import build_message, compress
from engine.reporting.model import Event, Policy
from engine.reporting.sign import sign_message

KEYS = Path(__file__).resolve().parents[3] / "examples" / "keys"
PEM = (KEYS / "ed25519.example.org.pem").read_text()
PUBLIC = base64.b64encode(bytes(nacl.signing.SigningKey(
    load_private_key(PEM, "ed25519-sha256")).verify_key))
DOMAIN = "example.net"
START = 1715040000
STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 1"),
             DOMAIN, ("mx.example.net",))


def message(submitter: str) -> bytes:
    built = build_report([Event(START, DOMAIN, STS, True)], domain=DOMAIN, start=START,
                         end=START + 86400, organization_name="Example Org",
                         contact_info=f"tlsrpt@{submitter}", max_size=0)
    assert built.json is not None
    return build_message(
        payload_gz=compress(built.json, 6), report_id=built.report_id, report_domain=DOMAIN,
        submitter=submitter, from_name="TLS Report", from_address=f"tlsrpt@{submitter}",
        recipients=["tlsrpt@example.net"],
        filename=filename(submitter, DOMAIN, START, START + 86400), date=START + 90000)


def signed(submitter: str, signing_domain: str) -> bytes:
    config = SignatureConfig("ed", {"private-key": PEM, "domain": signing_domain,
                                    "selector": "ed", "algorithm": "ed25519-sha256"})
    return sign_message(message(submitter), [config])


def dns(service: bytes = b"s=tlsrpt; ") -> Callable[..., bytes | None]:
    """A DNS function serving the Ed25519 key for every `ed._domainkey.*` name."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        if name.startswith(b"ed._domainkey."):
            return b"v=DKIM1; k=ed25519; " + service + b"p=" + PUBLIC
        return None
    return lookup


def test_the_default_requires_a_verifying_signature() -> None:
    unsigned = analyze_bytes(message("example.org"), dnsfunc=dns())
    assert (unsigned.code, unsigned.reason, unsigned.report) == (
        AUTH_FAILED, "no DKIM-Signature", None)
    good = analyze_bytes(signed("example.org", "example.org"), dnsfunc=dns())
    assert good.accepted and good.dkim == (True,)
    assert good.dkim_outcome is not None and good.dkim_outcome.result == "pass"
    no_key = analyze_bytes(signed("example.org", "example.org"), dnsfunc=lambda *a, **k: None)
    assert (no_key.code, no_key.reason) == (AUTH_FAILED, "none of 1 DKIM signatures verifies")


@pytest.mark.parametrize(("submitter", "signing_domain", "is_aligned"), [
    ("example.org", "example.org", True),
    ("reports.mail.example.org", "example.org", True),       # d= a parent domain
    ("example.org", "mail.example.org", False),              # d= a child: not aligned
    ("badexample.org", "example.org", False),                # a suffix but not a parent
    ("example.org", "other.example", False),
])
def test_alignment_with_the_submitter(submitter: str, signing_domain: str,
                                      is_aligned: bool) -> None:
    assert aligned(signing_domain, submitter) is is_aligned
    data = signed(submitter, signing_domain)
    # off by default: a verifying signature from any domain is enough
    assert analyze_bytes(data, dnsfunc=dns()).accepted
    strict = analyze_bytes(data, dnsfunc=dns(), auth=Authentication(require_aligned=True))
    assert strict.accepted is is_aligned
    if not is_aligned:
        assert strict.code == AUTH_FAILED
        assert f"d={signing_domain} vs TLS-Report-Submitter {submitter}" in (strict.reason or "")
    # with require-dkim off, a misaligned report is kept with the reason as a warning
    lenient = analyze_bytes(data, dnsfunc=dns(),
                            auth=Authentication(require_dkim=False, require_aligned=True))
    assert lenient.accepted
    assert any(w.message.startswith("unauthenticated: no verifying signature is aligned")
               for w in lenient.warnings) is not is_aligned


def test_tlsrpt_service_restriction() -> None:
    data = signed("example.org", "example.org")
    strict = Authentication(require_tlsrpt_service=True)
    assert analyze_bytes(data, dnsfunc=dns(), auth=strict).accepted
    unrestricted = dns(service=b"")  # a key usable for every service
    assert analyze_bytes(data, dnsfunc=unrestricted).accepted
    refused = analyze_bytes(data, dnsfunc=unrestricted, auth=strict)
    assert (refused.code, refused.dkim) == (AUTH_FAILED, (False,))


def test_unsigned_reports_are_kept_with_a_warning_when_not_required() -> None:
    analysis = analyze_bytes(message("example.org"), dnsfunc=dns(),
                             auth=Authentication(require_dkim=False))
    assert analysis.accepted
    assert analysis.dkim_outcome is not None and analysis.dkim_outcome.result == "none"
    assert [w.message for w in analysis.warnings] == [
        "unauthenticated: no DKIM-Signature (RFC 8460 3)"]


def test_the_signatures_are_checked_over_the_bytes_as_received() -> None:
    data = signed("example.org", "example.org")
    # delivered with bare line feeds (a file, a pipe from the MTA): the same signature holds
    assert analyze_bytes(data.replace(b"\r\n", b"\n"), dnsfunc=dns()).dkim == (True,)
    # one signed header field re-folded, as a re-serialisation would: simple canonicalisation
    # is not used, relaxed unfolds - but a changed value (here the Subject) must fail
    changed = data.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert changed != data
    assert analyze_bytes(changed, dnsfunc=dns()).code == AUTH_FAILED


def test_a_thousand_signatures_cost_one_parse_of_the_message() -> None:
    # a 14 MiB message with ~780 DKIM-Signature fields (as many as a 256 KiB header block
    # holds): dkimpy parsed the whole message again for each signature (about 0.1 s each here)
    import re

    from tests.reporting.analysis.bounded import MIB, guarded

    data = signed("example.org", "example.org")
    field = re.match(rb"DKIM-Signature:.*?\r\n(?=[^ \t])", data, re.S)
    assert field is not None
    rest = data[field.end():]
    count = (256 * 1024 - rest.index(b"\r\n\r\n")) // len(field.group(0)) - 1
    padding = (b"y" * 76 + b"\r\n") * (14 * MIB // 78)  # an epilogue after the last part
    message = field.group(0) * count + rest + padding
    assert len(message) < 15 * MIB
    analysis = guarded(message, seconds=30, peak_mib=400, dnsfunc=lambda *a, **k: None)
    assert (analysis.code, len(analysis.dkim)) == (AUTH_FAILED, count), analysis.reason


def test_only_the_topmost_signatures_are_checked() -> None:
    # Every signature whose key the sender serves costs dkimpy a hash of the whole body, so a
    # message may not make us check hundreds (RFC 6376 6.1 allows the limit).
    import re

    from engine.reporting.analysis.auth import MAX_SIGNATURES

    data = signed("example.org", "example.org")
    field = re.match(rb"DKIM-Signature:.*?\r\n(?=[^ \t])", data, re.S)
    assert field is not None
    good, rest = field.group(0), data[field.end():]
    # same signature under another selector: looked up and hashed, then it fails
    forged = good.replace(b"s=ed;", b"s=xx;")
    assert forged != good
    lookups: list[bytes] = []
    serve = dns()

    def counting(name: bytes, timeout: int = 5) -> bytes | None:
        lookups.append(name)
        return serve(name.replace(b"xx._domainkey.", b"ed._domainkey."), timeout)

    late = analyze_bytes(forged * 30 + good + rest, dnsfunc=counting)
    assert len(lookups) == MAX_SIGNATURES
    assert (late.code, late.reason) == (
        AUTH_FAILED, f"none of 31 DKIM signatures verifies (only the topmost "
                     f"{MAX_SIGNATURES} are checked)")
    early = analyze_bytes(forged * 3 + good + forged * 27 + rest, dnsfunc=dns())
    assert early.accepted and early.dkim[:5] == (False, False, False, True, False)
