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

#: a loaded private key, ready to sign
SigningKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

REQUIRED_FIELDS: Final = ("private-key", "domain", "selector")
ALGORITHMS: Final = ("rsa-sha256", "ed25519-sha256")
# DER prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows it.
_ED25519_PKCS8_PREFIX: Final = bytes.fromhex("302e020100300506032b657004220420")
_LIST_ITEM: Final = re.compile(r"signature\.(.+)\.(headers)\.[0-9]{4}$")
_PEM_BODY: Final = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END [A-Z ]*PRIVATE KEY-----",
                              re.DOTALL)


class SignatureKeyError(ValueError):
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
