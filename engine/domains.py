"""Domain names in one form: the A-label (punycode) text, lower case, without the trailing dot.

Conversion follows UTS 46 without transitional processing (IDNA 2008 as browsers and
dnspython apply it), so `faß.de` is `xn--fa-hia.de`, not IDNA 2003's `fass.de`, and a name
written either way compares equal. It matches dnspython's default codec (`IDNA_2008_Practical`)
label by label: the same label separators (full stop and its ideographic, full-width and
half-width forms), an all-ASCII label taken as written (so `_smtp._tls` and `_dmarc` work) and
any other label mapped with `idna.uts46_remap(label, std3_rules=False, transitional=False)` and
encoded with `idna.alabel`. On top of dnspython it lower-cases and drops one trailing dot.

A leaf module: anything may import it.
"""

from __future__ import annotations

import re
from typing import Final

import idna

from engine.errors import EngineError

#: what dnspython (and Python's idna codec) split labels on
_DOTS: Final = re.compile("[.\u3002\uff0e\uff61]")
_MAX_LABEL: Final = 63
#: RFC 1035 3.1: 255 octets on the wire, which is 253 characters of text without the final dot
_MAX_NAME: Final = 253


class DomainError(EngineError, ValueError):
    """A text that is not a domain name; the message names the text and the bad label."""


def normalise_domain(text: str) -> str:
    """The A-label form of a domain name: `FAß.de.` -> `xn--fa-hia.de`.

    Raises DomainError for an empty name or label, a label or name that is too long, a
    backslash (dnspython would read it as an escape; domain names here have none) and a label
    that UTS 46 / IDNA 2008 refuses (`a\u200db.de`, `-é.de`)."""
    if len(text) > 4 * _MAX_NAME:  # bounded before any work: no valid name is this long
        raise DomainError(f"{text[:40]!r}...: a domain name has at most {_MAX_NAME} characters")
    if "\\" in text:
        raise DomainError(f"{text!r}: a domain name has no backslash escapes")
    labels = _DOTS.split(text)
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot: the root
    if labels == [""]:
        raise DomainError(f"{text!r}: an empty domain name")
    converted = []
    for number, label in enumerate(labels, 1):
        converted.append(_label(text, number, label))
    name = ".".join(converted)
    if len(name) > _MAX_NAME:
        raise DomainError(f"{text!r}: {len(name)} characters as an A-label; a domain name has "
                          f"at most {_MAX_NAME}")
    return name


def _label(text: str, number: int, label: str) -> str:
    where = f"{text!r}: label {number}"
    if not label:
        raise DomainError(f"{where} is empty")
    if label.isascii():
        ascii_label = label.lower()
    else:
        try:
            ascii_label = idna.alabel(idna.uts46_remap(label, std3_rules=False,
                                                       transitional=False)).decode("ascii")
        except idna.IDNAError as err:
            raise DomainError(f"{where} ({label!r}) is not a valid IDNA label: {err}") from None
    if len(ascii_label) > _MAX_LABEL:
        raise DomainError(f"{where} is {len(ascii_label)} characters as an A-label; a label has "
                          f"at most {_MAX_LABEL}")
    return ascii_label.lower()
