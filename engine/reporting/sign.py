"""DKIM signing of report emails with dkimpy (spec/reporting.md 5.6), and verification.

This is the only module of the reporting core that imports dkimpy. Every configured
signature signs the *unsigned* message independently; the DKIM-Signature fields are
prepended in list order (the first id's field topmost). Any problem with any signature
raises SigningError naming the signature id: a report is never sent with a signature
missing (the caller keeps the report and retries later).

dkimpy does everything DKIM (canonicalisation, the header field, its folding, verification)
except the private-key operation: `_Signer` hands the header hash to `cryptography`
(OpenSSL), which signs RSA about 8 times faster than dkimpy's pure-Python arithmetic. Keys
come loaded and cached from `engine.config.signatures.load_signing_key`. Every signature is
checked with dkimpy's own verifier in the tests. dkimpy still needs `pynacl` to verify
Ed25519 (the project depends on `dkimpy[ed25519]`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import dkim
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils

from engine.config.signatures import (SignatureConfig, SignatureKeyError, SigningKey,
                                      load_private_key, load_signing_key)
from engine.errors import EngineError

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


class SigningError(EngineError):
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
    if not signatures:
        return message
    # one parse of the message for all its signatures: each `sign` call stands alone
    signer = _Signer(message)
    fields = [_sign_one(signer, signature) for signature in signatures]
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
    return [verified for _, verified in verify_signatures(message, dnsfunc, tlsrpt=tlsrpt)]


def verify_signatures(message: bytes, dnsfunc: DnsFunc, *, tlsrpt: bool | str = True,
                      most: int | None = None) -> list[tuple[str | None, bool]]:
    """Like `verify_message`, with each signature's signing domain (`d=`, lower case, None
    when the signature is too broken to name one): the analysis checks alignment with it
    (spec 7.6). With `most`, only the topmost `most` signatures are checked and the others
    count as not verified, with no domain (RFC 6376 6.1 lets a verifier limit them: each one
    whose key the sender serves costs a hash of the whole body)."""
    # one parse of the message for all its signatures: a message may carry hundreds, and
    # parsing a 15 MiB message costs about 0.1 s (each `verify` sets its own state afresh)
    verifier = dkim.DKIM(message, tlsrpt=tlsrpt)
    count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    results: list[tuple[str | None, bool]] = []
    for index in range(count):
        if most is not None and index >= most:
            results.append((None, False))
            continue
        verifier.domain = None
        try:
            verified = bool(verifier.verify(idx=index, dnsfunc=dnsfunc))
        except Exception:  # untrusted input: dkimpy and pynacl raise more than DKIMException
            verified = False
        # dkimpy sets `domain` once the signature's tags are parsed
        domain = verifier.domain
        results.append((domain.decode("ascii", "replace").lower().rstrip(".")
                        if isinstance(domain, bytes) else None, verified))
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


def _sign_one(signer: _Signer, signature: SignatureConfig) -> bytes:
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
        key = load_signing_key(pem, algorithm)
        material = load_private_key(pem, algorithm)
    except SignatureKeyError as err:
        raise SigningError(ident, " ".join(str(err).split())) from None
    # what dkimpy wants to be given (it parses it, but the signature is made with `key`)
    privkey = base64.b64encode(material) if algorithm == "ed25519-sha256" else material
    try:
        headers = signed_headers(fields)
    except ValueError as err:
        raise SigningError(ident, str(err)) from None
    domain = _ascii(ident, "domain", fields["domain"].strip().rstrip(".").lower())
    selector = _ascii(ident, "selector", fields["selector"].strip())
    auid = fields.get("auid", "").strip()
    identity = _ascii(ident, "auid", auid) if auid else None
    try:
        signer.key = key
        field: bytes = signer.sign(
            selector, domain, privkey, identity=identity, canonicalize=canonicalize,
            signature_algorithm=algorithm.encode("ascii"),
            include_headers=[name.encode("ascii") for name in headers], length=False)
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


class _Signer(dkim.DKIM):  # type: ignore[misc]  # dkimpy has no type hints
    """dkimpy's DKIM signer with the private-key operation done by `cryptography`.

    Only `gen_header` is replaced: it is dkimpy 1.1's own, minus the ARC-only `standardize`
    path, with the signature of the header hash made by the loaded key (RSASSA-PKCS1-v1_5
    over SHA-256 for rsa-sha256; Ed25519 over the SHA-256 digest for ed25519-sha256, RFC
    8463, as dkimpy does it). `sign`, canonicalisation and folding are dkimpy's.
    """

    def __init__(self, message: bytes) -> None:
        super().__init__(message, linesep=b"\r\n", tlsrpt=True)
        self.key: SigningKey | None = None  # the key of the next `sign` call

    def gen_header(self, fields: list[tuple[bytes, bytes]], include_headers: Sequence[bytes],
                   canon_policy: Any, header_name: bytes, pk: Any,
                   standardize: bool = False) -> bytes:
        if standardize:
            raise dkim.ParameterError("standardized (ARC) headers are not signed here")
        header_value = dkim.fold(b"; ".join(b"=".join(x) for x in fields),
                                 namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        digest = self.hasher()
        self.signed_headers = dkim.hash_headers(
            digest, canon_policy, canon_policy.canonicalize_headers(self.headers),
            include_headers, (header_name, b" " + header_value), dict(fields))
        if self.key is None:
            raise dkim.ParameterError("no signing key")
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            signature = self.key.sign(digest.digest())
        else:
            signature = self.key.sign(digest.digest(), padding.PKCS1v15(),
                                      utils.Prehashed(hashes.SHA256()))
        index = next(i for i, (name, _) in enumerate(fields) if name == b"b")
        fields[index] = (b"b", base64.b64encode(signature))
        folded: bytes = dkim.fold(b"; ".join(b"=".join(x) for x in fields) + self.linesep,
                                  namelen=len(header_name), linesep=self.linesep)
        return folded
