"""DKIM signing of report emails with dkimpy (spec/reporting.md 5.6), and verification.

This is the only module of the reporting core that imports dkimpy. Every configured
signature signs the *unsigned* message independently; the DKIM-Signature fields are
prepended in list order (the first id's field topmost). Any problem with any signature
raises SigningError naming the signature id: a report is never sent with a signature
missing (the caller keeps the report and retries later).

Ed25519 signing and verification need `pynacl` (the project depends on `dkimpy[ed25519]`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import dkim

from engine.config.signatures import SignatureConfig, SignatureKeyError, load_private_key

#: header fields signed when a signature sets no `headers` (spec 5.6)
DEFAULT_HEADERS: Final = ("From", "To", "Date", "Subject", "Message-ID")
#: appended to every signature's header list when absent (RFC 8460 5.3 fields; mox does this)
TLS_REPORT_HEADERS: Final = ("TLS-Report-Domain", "TLS-Report-Submitter")
_ALGORITHMS: Final = {
    "rsa-sha256": "rsa-sha256", "rsa-sha-256": "rsa-sha256",
    "ed25519-sha256": "ed25519-sha256", "ed25519-sha-256": "ed25519-sha256",
}
_CANONICALIZATIONS: Final = ("simple", "relaxed")
_HEADER_NAME: Final = re.compile(r"[!-9;-~]+")  # RFC 5322 field-name: printable, no colon
_HEADER_LIST_SEPARATORS: Final = re.compile(r"[\s,:;\[\]'\"]+")

#: dkimpy's DNS hook: `dnsfunc(name: bytes, timeout: int = 5) -> bytes | None`, where `name`
#: is `<selector>._domainkey.<domain>.` and the result the TXT record's text
DnsFunc = Callable[..., bytes | None]


class SigningError(Exception):
    """A configured signature could not sign: the message must not be sent."""

    def __init__(self, signature_id: str, reason: str) -> None:
        super().__init__(f"DKIM signature `{signature_id}`: {reason}")
        self.signature_id = signature_id
        self.reason = reason


def sign_message(message: bytes, signatures: Sequence[SignatureConfig]) -> bytes:
    """`message` (CRLF bytes, unsigned) with one DKIM-Signature field per signature prepended,
    the first signature's field topmost. An empty list returns `message` unchanged.

    Raises SigningError (naming the id) for a missing section (a SignatureConfig without
    fields), a missing field, an unknown algorithm or canonicalization, a key that does not
    load, or any error of dkimpy.
    """
    fields = [_sign_one(message, signature) for signature in signatures]
    return b"".join(fields) + message


def system_dnsfunc() -> DnsFunc:
    """dkimpy's own TXT lookup through the system resolver (for real, not injected, DNS)."""
    from dkim.dnsplug import get_txt

    return get_txt  # type: ignore[no-any-return]


def verify_message(message: bytes, dnsfunc: DnsFunc, *, tlsrpt: bool | str = True) -> list[bool]:
    """Whether each DKIM-Signature of `message` verifies, topmost first.

    `dnsfunc` answers the key lookups (dkimpy's hook, see DnsFunc). `tlsrpt=True` verifies
    the whole body (ignoring any `l=`) and accepts keys with `s=tlsrpt`; `"strict"` requires
    `s=tlsrpt`; False rejects keys with `s=tlsrpt` (spec 5.6). A malformed signature, a
    missing key or a key of the wrong type gives False, never an exception.
    """
    count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature")
    results = []
    for index in range(count):
        try:
            verifier = dkim.DKIM(message, tlsrpt=tlsrpt)
            results.append(bool(verifier.verify(idx=index, dnsfunc=dnsfunc)))
        except Exception:  # untrusted input: dkimpy and pynacl raise more than DKIMException
            results.append(False)
    return results


def signed_headers(fields: Mapping[str, str]) -> list[str]:
    """The header names a signature section signs: its `headers` (a list in text form, or
    flattened as `headers.0000`, `headers.0001`...) or the default, with the two TLS-Report
    fields appended when absent."""
    names: list[str] = []
    if fields.get("headers"):
        names = [name for name in _HEADER_LIST_SEPARATORS.split(fields["headers"]) if name]
    else:
        indexed = sorted((key for key in fields if key.startswith("headers.")),
                         key=lambda key: (len(key), key))
        names = [fields[key].strip() for key in indexed if fields[key].strip()]
    if not names:
        names = list(DEFAULT_HEADERS)
    for name in names:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r} in `headers`")
    present = {name.lower() for name in names}
    names.extend(name for name in TLS_REPORT_HEADERS if name.lower() not in present)
    return names


def _sign_one(message: bytes, signature: SignatureConfig) -> bytes:
    ident = signature.id
    fields = signature.fields
    if not fields:
        raise SigningError(ident, f"there is no [signature.\"{ident}\"] section")
    missing = signature.missing()
    if missing:
        raise SigningError(ident, f"the section has no {', '.join(missing)}")
    algorithm = _algorithm(ident, signature.algorithm)
    canonicalize = _canonicalization(ident, fields.get("canonicalization", ""))
    pem = fields["private-key"].replace("\r\n", "\n").replace("\r", "\n")
    try:
        material = load_private_key(pem, algorithm)
    except SignatureKeyError as err:
        raise SigningError(ident, " ".join(str(err).split())) from None
    key = base64.b64encode(material) if algorithm == "ed25519-sha256" else material
    try:
        headers = signed_headers(fields)
    except ValueError as err:
        raise SigningError(ident, str(err)) from None
    domain = _ascii(ident, "domain", fields["domain"].strip().rstrip(".").lower())
    selector = _ascii(ident, "selector", fields["selector"].strip())
    auid = fields.get("auid", "").strip()
    identity = _ascii(ident, "auid", auid) if auid else None
    try:
        field: bytes = dkim.sign(
            message, selector, domain, key, identity=identity, canonicalize=canonicalize,
            signature_algorithm=algorithm.encode("ascii"),
            include_headers=[name.encode("ascii") for name in headers],
            length=False, linesep=b"\r\n", tlsrpt=True)
    except Exception as err:  # any failure of the backend holds the report, never unsigned
        reason = " ".join(str(err).split()) or type(err).__name__
        raise SigningError(ident, f"dkimpy could not sign ({type(err).__name__}: {reason})") \
            from err
    if not field.startswith(b"DKIM-Signature:") or not field.endswith(b"\r\n"):
        raise SigningError(ident, "dkimpy returned no DKIM-Signature field")
    return field


def _algorithm(ident: str, text: str) -> str:
    name = text.strip().lower()
    if name in _ALGORITHMS:
        return _ALGORITHMS[name]
    if name in ("rsa-sha1", "rsa-sha-1"):
        raise SigningError(ident, "algorithm rsa-sha1 is not allowed (use rsa-sha256)")
    raise SigningError(ident, f"unknown algorithm {text!r} (use rsa-sha256 or ed25519-sha256)")


def _canonicalization(ident: str, text: str) -> tuple[bytes, bytes]:
    words = [word.strip().lower() for word in text.split("/")] if text.strip() else \
        ["relaxed"]
    if len(words) == 1:
        words *= 2
    if len(words) != 2 or any(word not in _CANONICALIZATIONS for word in words):
        raise SigningError(ident, f"unknown canonicalization {text!r} (use header/body, each "
                                  "simple or relaxed)")
    return words[0].encode("ascii"), words[1].encode("ascii")


def _ascii(ident: str, what: str, text: str) -> bytes:
    if not text or not text.isascii() or any(c.isspace() or c in ";=" for c in text):
        raise SigningError(ident, f"invalid {what} {text!r} (an A-label domain, no spaces)")
    return text.encode("ascii")
