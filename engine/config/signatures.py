"""DKIM signatures configured Stalwart-style under `signature.<id>.*`, and their keys.

A signature section names a PEM private key (usually through `%{file:...}%`), the signing
domain, the selector and the algorithm. This module reads those texts and loads the key; it
does not sign (that is the reporting core's job, `engine.reporting.sign`).

Keys are loaded with `cryptography` (OpenSSL), not dkimpy: `engine.reporting.sign` stays the
one importer of dkimpy (STYLE.md 10), and loading stays here, in the configuration stage,
because `lint` (an earlier stage than `reporting`) checks keys too and may not import from a
later stage. The loaded key objects are what `sign` signs with.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from engine.errors import EngineError

#: a loaded private key, ready to sign
SigningKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

REQUIRED_FIELDS: Final = ("private-key", "domain", "selector")
ALGORITHMS: Final = ("rsa-sha256", "ed25519-sha256")
# DER prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows it.
_ED25519_PKCS8_PREFIX: Final = bytes.fromhex("302e020100300506032b657004220420")
_LIST_ITEM: Final = re.compile(r"signature\.(.+)\.(headers)\.[0-9]{4}$")
_PEM_BODY: Final = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END [A-Z ]*PRIVATE KEY-----",
                              re.DOTALL)


class SignatureKeyError(EngineError, ValueError):
    """A private key that does not load for its algorithm."""


@dataclass(frozen=True, slots=True)
class SignatureConfig:
    """The texts of one `signature.<id>` section (macros expanded)."""

    id: str
    fields: Mapping[str, str]

    @property
    def algorithm(self) -> str:
        return self.fields.get("algorithm", "rsa-sha256")

    def missing(self) -> list[str]:
        return [name for name in REQUIRED_FIELDS if not self.fields.get(name)]


def signature_ids(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Every `signature.<id>.<field>` of a flat configuration, grouped by id (ids may hold
    dots: `signature.rsa-example.org.domain` is id `rsa-example.org`, field `domain`)."""
    found: dict[str, dict[str, str]] = {}
    for key, text in values.items():
        if not key.startswith("signature.") or key.count(".") < 2:
            continue
        listed = _LIST_ITEM.match(key)
        if listed is not None:
            # `headers = ["From", "To"]` flattens to headers.0000, headers.0001: one list.
            fields = found.setdefault(listed.group(1), {})
            fields[listed.group(2)] = ", ".join(
                part for part in (fields.get(listed.group(2), ""), text) if part)
            continue
        identifier, _, field = key[len("signature."):].rpartition(".")
        found.setdefault(identifier, {})[field] = text
    return found


def load_private_key(pem: str, algorithm: str) -> bytes:
    """The key material dkimpy signs with: the PEM (RSA) or the 32-byte seed (Ed25519).

    Raises SignatureKeyError saying why the key does not load.
    """
    key = load_signing_key(pem, algorithm)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.private_bytes_raw()
    return pem.encode("ascii")


@functools.lru_cache(maxsize=64)
def load_signing_key(pem: str, algorithm: str) -> SigningKey:
    """The private key of a signature section, loaded once per (text, algorithm): every
    report is signed with the same few keys, and parsing one costs more than a signature.

    RSA: a PEM private key (PKCS#1 or PKCS#8). Ed25519: a PKCS#8 PEM or dkimpy's own format,
    the base64 32-byte seed alone. Raises SignatureKeyError saying why the key does not load.
    """
    if algorithm not in ALGORITHMS:
        raise SignatureKeyError(f"unknown algorithm {algorithm!r} (use {' or '.join(ALGORITHMS)})")
    if algorithm == "rsa-sha256":
        try:
            key = load_pem_private_key(pem.encode("ascii", "replace"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as err:
            raise SignatureKeyError(f"not an RSA private key in PEM form ({err})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            kind = "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "another"
            raise SignatureKeyError(f"not an RSA private key in PEM form (it is an {kind} key)")
        if not pem.isascii():
            raise SignatureKeyError("not an RSA private key in PEM form (non-ASCII text)")
        return key
    body = _PEM_BODY.search(pem)
    try:
        der = base64.b64decode((body.group(1) if body else pem).strip(), validate=False)
    except (binascii.Error, ValueError) as err:
        raise SignatureKeyError(f"not an Ed25519 private key ({err})") from None
    if len(der) == 48 and der.startswith(_ED25519_PKCS8_PREFIX):
        seed = der[len(_ED25519_PKCS8_PREFIX):]
    elif len(der) == 32 and body is None:  # dkimpy's own format: the base64 seed alone
        seed = der
    else:
        raise SignatureKeyError(
            "not an Ed25519 private key (expected PKCS#8 PEM or a base64 seed)")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


# --- what a signature section may hold ----------------------------------------------------------

#: the spellings of `algorithm` that sign (the reporting core's signer reads the same ones)
ALGORITHM_SPELLINGS: Final = {
    "rsa-sha256": "rsa-sha256", "rsa-sha-256": "rsa-sha256",
    "ed25519-sha256": "ed25519-sha256", "ed25519-sha-256": "ed25519-sha256",
}
#: RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits (2048 recommended)
MIN_RSA_BITS: Final = 1024
#: the keys of a section the engine reads
USED_FIELDS: Final = frozenset({"private-key", "domain", "selector", "algorithm",
                                "canonicalization", "headers", "auid"})
#: Stalwart's keys that this engine's signer (dkimpy) cannot honour: x=, r=y, atps=, l=
IGNORED_FIELDS: Final = frozenset({"expire", "report", "third-party", "third-party-algo",
                                   "set-body-length"})


@dataclass(frozen=True, slots=True)
class SectionProblem:
    """A problem of one `signature.<id>` section; `key` is the flat key to point at."""

    key: str
    code: str
    message: str
    help: str
    is_error: bool


def section_problems(values: Mapping[str, str]) -> list[SectionProblem]:
    """The signature sections' refused algorithms (E505) and RSA keys too small (E506), both
    errors at load, and their ignored (W507) or unknown (W508) keys."""
    found: list[SectionProblem] = []
    for identifier, fields in signature_ids(values).items():
        anchor = f"signature.{identifier}."
        text = fields.get("algorithm")
        algorithm = "rsa-sha256" if text is None else ALGORITHM_SPELLINGS.get(text.strip().lower())
        if algorithm is None:
            weak = text is not None and text.strip().lower() in ("rsa-sha1", "rsa-sha-1")
            found.append(SectionProblem(
                anchor + "algorithm", "E505",
                f"signature `{identifier}`: algorithm `{text}` is "
                + ("refused (RFC 8301 3.1: rsa-sha1 MUST NOT be used for signing)" if weak
                   else "not a DKIM signing algorithm"),
                "use rsa-sha256 or ed25519-sha256", True))
        elif algorithm == "rsa-sha256" and fields.get("private-key") and \
                "%{" not in fields["private-key"]:
            try:
                key = load_signing_key(fields["private-key"], "rsa-sha256")
            except SignatureKeyError:
                key = None  # lint reports it (E503); signing refuses it
            if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
                found.append(SectionProblem(
                    anchor + "private-key", "E506",
                    f"signature `{identifier}`: a {key.key_size}-bit RSA key is refused "
                    f"(RFC 8301 3.2: at least {MIN_RSA_BITS} bits)",
                    "generate a 2048-bit key: openssl genpkey -algorithm RSA "
                    "-pkeyopt rsa_keygen_bits:2048", True))
        for name in fields:
            if name in USED_FIELDS:
                continue
            ignored = name in IGNORED_FIELDS
            found.append(SectionProblem(
                _written_key(values, anchor + name), "W507" if ignored else "W508",
                f"signature `{identifier}`: `{name}` is "
                + ("ignored: this engine's DKIM signer cannot write it" if ignored
                   else "not a signature key; it is ignored"),
                "remove it" + ("" if ignored else "; the keys are " + ", ".join(
                    sorted(USED_FIELDS))), False))
    return found


def _written_key(values: Mapping[str, str], key: str) -> str:
    """The flat key as written (a list such as `headers` flattens to `headers.0000`)."""
    if key in values:
        return key
    return next((name for name in values if name.startswith(key + ".")), key)
