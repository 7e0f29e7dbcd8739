"""engine.reporting.sign: DKIM signing with dkimpy (spec 5.6), verified against the public
keys of the example keys through an injected DNS lookup."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dkim
import dkim.crypto
import nacl.signing
import pytest

from engine.config.signatures import SignatureConfig, load_private_key
from engine.reporting.send.message import build_message, compress
from engine.reporting.sign import SigningError, sign_message, signed_headers, verify_message

KEYS = Path(__file__).resolve().parents[2] / "examples" / "keys"
RSA_PEM = (KEYS / "rsa.example.org.pem").read_text()
ED25519_PEM = (KEYS / "ed25519.example.org.pem").read_text()
JSON = b'{"organization-name":"Example Organisation","report-id":"1_2_example.net"}'


def rsa_section(**changes: str) -> dict[str, str]:
    """The example configuration's `signature."rsa-example.org"` (examples/tlsrpt.toml)."""
    return {"private-key": RSA_PEM, "domain": "example.org", "selector": "rsa-2026",
            "algorithm": "rsa-sha256", "canonicalization": "relaxed/relaxed", **changes}


def ed25519_section(**changes: str) -> dict[str, str]:
    return {"private-key": ED25519_PEM, "domain": "example.org", "selector": "ed-2026",
            "algorithm": "ed25519-sha256", "canonicalization": "relaxed/relaxed", **changes}


RSA = SignatureConfig("rsa-example.org", rsa_section())
ED25519 = SignatureConfig("ed25519-example.org", ed25519_section())


# -- public keys, derived here from the private keys

def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def rsa_public_key(pem: str) -> bytes:
    """DER SubjectPublicKeyInfo of an RSA private key (what `p=` carries, base64)."""
    private = dkim.crypto.parse_pem_private_key(pem.encode())
    rsa_public = _der(0x30, _der_integer(private["modulus"])
                      + _der_integer(private["publicExponent"]))
    algorithm = _der(0x30, bytes.fromhex("06092a864886f70d0101010500"))  # rsaEncryption, NULL
    return _der(0x30, algorithm + _der(0x03, b"\x00" + rsa_public))


def ed25519_public_key(pem: str) -> bytes:
    seed = load_private_key(pem, "ed25519-sha256")
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def key_record(kind: str, public: bytes, service: str | None = "tlsrpt") -> bytes:
    tags = ["v=DKIM1", f"k={kind}"] + ([f"s={service}"] if service else [])
    return "; ".join(tags + ["p=" + base64.b64encode(public).decode()]).encode()


class FakeDns:
    """dkimpy's dnsfunc: TXT records by query name; records the queries."""

    def __init__(self, service: str | None = "tlsrpt") -> None:
        self.records = {
            b"rsa-2026._domainkey.example.org.": key_record(
                "rsa", rsa_public_key(RSA_PEM), service),
            b"ed-2026._domainkey.example.org.": key_record(
                "ed25519", ed25519_public_key(ED25519_PEM), service),
        }
        self.queries: list[bytes] = []

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        self.queries.append(name)
        return self.records.get(name)


def message(**changes: Any) -> bytes:
    arguments: dict[str, Any] = dict(
        payload_gz=compress(JSON, 6), report_id="1715040000_1715126399_example.net",
        report_domain="example.net", submitter="mx1.example.org",
        from_name="TLS Aggregate Report", from_address="noreply-tls@example.org",
        recipients=["tlsrpt@example.net", "reports@other.example"],
        filename="mx1.example.org!example.net!1715040000!1715126399.json.gz", date=1715136000)
    arguments.update(changes)
    return build_message(**arguments)


def signature_fields(signed: bytes) -> list[dict[bytes, bytes]]:
    """The tags of every DKIM-Signature field, topmost first."""
    parsed = dkim.DKIM(signed)
    return [dkim.util.parse_tag_value(value) for name, value in parsed.headers
            if name.lower() == b"dkim-signature"]


def header_names(tags: dict[bytes, bytes]) -> list[str]:
    return [name.decode() for name in re.split(rb"\s*:\s*", tags[b"h"].strip())]


# -- signing and verifying

@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_rsa_public_key_derivation_matches_openssl() -> None:
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                         input=RSA_PEM.encode(), capture_output=True, check=True).stdout
    assert der == rsa_public_key(RSA_PEM)


@pytest.mark.parametrize("signature", [RSA, ED25519], ids=lambda s: s.id)
def test_one_signature_verifies(signature: SignatureConfig) -> None:
    unsigned = message()
    signed = sign_message(unsigned, [signature])
    dns = FakeDns()
    assert verify_message(signed, dns) == [True]
    assert dns.queries == [signature.fields["selector"].encode() + b"._domainkey.example.org."]
    assert verify_message(signed, dns, tlsrpt="strict") == [True]
    (tags,) = signature_fields(signed)
    assert tags[b"a"] == signature.fields["algorithm"].encode()
    assert tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"d"] == b"example.org"
    assert tags[b"s"] == signature.fields["selector"].encode()
    assert b"l" not in tags
    assert header_names(tags) == ["from", "to", "date", "subject", "message-id",
                                  "tls-report-domain", "tls-report-submitter"]
    assert signed.endswith(unsigned)
    field = signed[:-len(unsigned)]
    assert field.startswith(b"DKIM-Signature: ") and field.endswith(b"\r\n")
    assert b"\n" not in field.replace(b"\r\n", b"")


def test_both_example_signatures_in_list_order() -> None:
    unsigned = message()
    signed = sign_message(unsigned, [RSA, ED25519])
    assert verify_message(signed, FakeDns()) == [True, True]
    tags = signature_fields(signed)
    assert [t[b"s"] for t in tags] == [b"rsa-2026", b"ed-2026"]
    assert [t[b"a"] for t in tags] == [b"rsa-sha256", b"ed25519-sha256"]
    assert all(b"l" not in t for t in tags)
    for t in tags:
        assert {"tls-report-domain", "tls-report-submitter"} <= set(header_names(t))
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256")
    assert signed.endswith(unsigned)
    # each signer signed the unsigned message: either field alone verifies on it
    prefix = signed[:-len(unsigned)]
    rsa_field, ed_field = re.split(rb"(?<=\r\n)(?=DKIM-Signature:)", prefix)
    assert verify_message(rsa_field + unsigned, FakeDns()) == [True]
    assert verify_message(ed_field + unsigned, FakeDns()) == [True]
    reversed_order = signature_fields(sign_message(unsigned, [ED25519, RSA]))
    assert [t[b"s"] for t in reversed_order] == [b"ed-2026", b"rsa-2026"]


def test_tampering_breaks_every_signature() -> None:
    signed = sign_message(message(), [RSA, ED25519])
    body_changed = signed.replace(b"TLS report from mx1.example.org",
                                  b"TLS report from mx9.example.org")
    assert verify_message(body_changed, FakeDns()) == [False, False]
    header_changed = signed.replace(b"TLS-Report-Domain: example.net",
                                    b"TLS-Report-Domain: example.com")
    assert verify_message(header_changed, FakeDns()) == [False, False]


def test_verification_against_wrong_or_missing_keys() -> None:
    signed = sign_message(message(), [RSA, ED25519])
    dns = FakeDns()
    dns.records[b"rsa-2026._domainkey.example.org."] = dns.records[
        b"ed-2026._domainkey.example.org."]
    del dns.records[b"ed-2026._domainkey.example.org."]
    assert verify_message(signed, dns) == [False, False]
    assert verify_message(message(), FakeDns()) == []


def test_service_type_modes() -> None:
    signed = sign_message(message(), [RSA])
    no_service = FakeDns(service=None)
    assert verify_message(signed, no_service) == [True]
    assert verify_message(signed, no_service, tlsrpt="strict") == [False]
    assert verify_message(signed, FakeDns(), tlsrpt=False) == [False]


@pytest.mark.parametrize(("section", "algorithm"), [
    (rsa_section(algorithm="rsa-sha-256"), b"rsa-sha256"),
    (rsa_section(algorithm="RSA-SHA256"), b"rsa-sha256"),
    ({k: v for k, v in rsa_section().items() if k != "algorithm"}, b"rsa-sha256"),
    (ed25519_section(algorithm="ed25519-sha-256"), b"ed25519-sha256"),
])
def test_algorithm_spellings(section: dict[str, str], algorithm: bytes) -> None:
    signed = sign_message(message(), [SignatureConfig("x", section)])
    assert signature_fields(signed)[0][b"a"] == algorithm
    assert verify_message(signed, FakeDns()) == [True]


@pytest.mark.parametrize(("text", "c_value"), [
    ("relaxed/relaxed", b"relaxed/relaxed"),
    ("simple/simple", b"simple/simple"),
    ("relaxed/simple", b"relaxed/simple"),
    ("simple/relaxed", b"simple/relaxed"),
    ("simple", b"simple/simple"),
    ("relaxed", b"relaxed/relaxed"),
    ("", b"relaxed/relaxed"),
])
def test_canonicalization(text: str, c_value: bytes) -> None:
    section = rsa_section(canonicalization=text)
    if not text:
        del section["canonicalization"]
    signed = sign_message(message(), [SignatureConfig("rsa", section)])
    assert signature_fields(signed)[0][b"c"] == c_value
    assert verify_message(signed, FakeDns()) == [True]


def test_configured_headers_and_auid() -> None:
    section = rsa_section(headers="From, Subject, TLS-Report-Domain", auid="reports@example.org")
    signed = sign_message(message(), [SignatureConfig("rsa", section)])
    (tags,) = signature_fields(signed)
    assert header_names(tags) == ["from", "subject", "tls-report-domain",
                                  "tls-report-submitter"]
    assert tags[b"i"] == b"reports@example.org"
    assert verify_message(signed, FakeDns()) == [True]


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, ["From", "To", "Date", "Subject", "Message-ID", "TLS-Report-Domain",
          "TLS-Report-Submitter"]),
    ({"headers": "['From', 'To', 'tls-report-submitter']"},
     ["From", "To", "tls-report-submitter", "TLS-Report-Domain"]),
    ({"headers.0000": "From", "headers.0001": "Date"},
     ["From", "Date", "TLS-Report-Domain", "TLS-Report-Submitter"]),
])
def test_signed_headers(fields: dict[str, str], expected: list[str]) -> None:
    assert signed_headers(fields) == expected


def test_crlf_pem_key_is_accepted() -> None:
    section = rsa_section(**{"private-key": RSA_PEM.replace("\n", "\r\n")})
    signed = sign_message(message(), [SignatureConfig("rsa", section)])
    assert verify_message(signed, FakeDns()) == [True]


def test_empty_list_returns_message_unchanged() -> None:
    unsigned = message()
    assert sign_message(unsigned, []) is unsigned


# -- failures hold the report: SigningError naming the id

BROKEN_RSA = ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n"
              "-----END RSA PRIVATE KEY-----\n")


@pytest.mark.parametrize(("fields", "reason"), [
    ({}, "no [signature"),
    ({k: v for k, v in rsa_section().items() if k != "selector"}, "selector"),
    ({k: v for k, v in rsa_section().items() if k != "private-key"}, "private-key"),
    (rsa_section(**{"private-key": BROKEN_RSA}), "RSA private key"),
    (rsa_section(**{"private-key": "%{file:keys/missing.pem}%"}), "RSA private key"),
    (rsa_section(**{"private-key": ED25519_PEM}), "RSA private key"),
    (ed25519_section(**{"private-key": RSA_PEM}), "Ed25519"),
    (rsa_section(algorithm="rsa-sha1"), "rsa-sha1"),
    (rsa_section(algorithm="hmac-sha256"), "unknown algorithm"),
    (rsa_section(canonicalization="relaxed/nofws"), "canonicalization"),
    (rsa_section(canonicalization="simple/relaxed/simple"), "canonicalization"),
    (rsa_section(headers="To, Subject"), "From"),          # dkimpy: From MUST be signed
    (rsa_section(headers="From, Received"), "received"),  # dkimpy: SHOULD NOT be signed
    (rsa_section(auid="reports@example.com"), "identity"),  # dkimpy: i= outside d=
    (rsa_section(domain="exämple.org"), "domain"),
])
def test_signing_error_names_the_id(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(SigningError) as caught:
        sign_message(message(), [SignatureConfig("rsa-example.org", fields)])
    assert caught.value.signature_id == "rsa-example.org"
    assert "rsa-example.org" in str(caught.value)
    assert reason.lower() in str(caught.value).lower()


def test_one_broken_signature_fails_the_whole_message() -> None:
    broken = SignatureConfig("ed25519-example.org", {})
    with pytest.raises(SigningError, match="ed25519-example.org"):
        sign_message(message(), [RSA, broken])
    with pytest.raises(SigningError, match="ed25519-example.org"):
        sign_message(message(), [broken, RSA])
