"""DKIM signatures configured Stalwart-style under `signature.<id>.*`, and their keys.

A signature section names a PEM private key (usually through `%{file:...}%`), the signing
domain, the selector and the algorithm. This module reads those texts and loads the key; it
does not sign (that is the reporting core's job).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import dkim.crypto

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
    if algorithm not in ALGORITHMS:
        raise SignatureKeyError(f"unknown algorithm {algorithm!r} (use {' or '.join(ALGORITHMS)})")
    if algorithm == "rsa-sha256":
        try:
            dkim.crypto.parse_pem_private_key(pem.encode("ascii", "replace"))
        except (dkim.crypto.UnparsableKeyError, ValueError, IndexError) as err:
            raise SignatureKeyError(f"not an RSA private key in PEM form ({err})") from None
        return pem.encode("ascii")
    body = _PEM_BODY.search(pem)
    try:
        der = base64.b64decode((body.group(1) if body else pem).strip(), validate=False)
    except (binascii.Error, ValueError) as err:
        raise SignatureKeyError(f"not an Ed25519 private key ({err})") from None
    if len(der) == 48 and der.startswith(_ED25519_PKCS8_PREFIX):
        return der[len(_ED25519_PKCS8_PREFIX):]
    if len(der) == 32 and body is None:  # dkimpy's own format: the base64 seed alone
        return der
    raise SignatureKeyError("not an Ed25519 private key (expected PKCS#8 PEM or a base64 seed)")
