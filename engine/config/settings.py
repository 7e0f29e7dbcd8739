"""THE REGISTRY: every setting the engine knows, in one table.

Each entry says what a setting is: its default expression (exactly the text Stalwart
compiles), the variables and named constants it may use, the type its result must have, and
the run-time fallback when it yields no usable value (spec/expressions.md 13,
spec/reporting.md 10). Adding a setting (DMARC's, say) is adding an entry here: the loader,
`tlsrpt resolve`, `tlsrpt lint` and docs/configuration.md all read this table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from engine.expr.scope import FREQUENCY_CONSTANTS, RCPT_DOMAIN_VARS, SMTP_QUEUE_HOST_VARS
from engine.expr.values import Value


class ResultType(enum.Enum):
    """What a setting's value must be converted to (spec/expressions.md 11.2)."""

    TEXT = "text"
    TEXT_LIST = "list of texts"
    FREQUENCY = "frequency"
    SIZE = "size"
    PLAIN_TEXT = "plain text"  # not an expression: the TOML text itself


class Frequency(enum.IntEnum):
    """How often aggregate reports are sent; Stalwart's AggregateFrequency numbers."""

    NEVER = 0
    HOURLY = 2
    DAILY = 3
    WEEKLY = 4


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One known setting. `key` may hold `*` for one key part (`signature.*.domain`)."""

    key: str
    result: ResultType
    description: str
    default: str | None = None
    variables: tuple[str, ...] = ()
    constants: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: what the caller uses when the setting yields no usable value
    fallback: Value | None = None
    fallback_note: str = ""
    required: bool = False

    @property
    def is_expression(self) -> bool:
        return self.result is not ResultType.PLAIN_TEXT

    def matches(self, key: str) -> bool:
        if "*" not in self.key:
            return key == self.key
        # The `*` is an id that may itself hold dots (`signature.rsa-example.org.domain`).
        prefix, _, suffix = self.key.partition("*")
        return (len(key) > len(prefix) + len(suffix) and key.startswith(prefix)
                and key.endswith(suffix))


_TLS: Final = "report.tls.aggregate."
_DOMAIN_SIGNATURE: Final = "config_get('report.domain')"

SETTINGS: Final[tuple[SettingSpec, ...]] = (
    SettingSpec(
        "server.hostname", ResultType.PLAIN_TEXT,
        "The host name of this server; `config_get('server.hostname')` reads it.",
        fallback_note="`lookup.default.hostname`, else the machine's host name"),
    SettingSpec(
        "report.domain", ResultType.PLAIN_TEXT,
        "The domain reports are sent from; `config_get('report.domain')` reads it, "
        "lower-cased.",
        fallback_note="`lookup.default.domain`, else the domain of `server.hostname`"),
    SettingSpec(
        "report.submitter", ResultType.TEXT,
        "The host that submits reports: the `Submitter` of the Subject, the "
        "TLS-Report-Submitter header and the report file name.",
        default="config_get('server.hostname')", variables=RCPT_DOMAIN_VARS,
        fallback="localhost"),
    SettingSpec(
        _TLS + "from-name", ResultType.TEXT,
        "Display name of the From header of TLS report messages.",
        default="'TLS Aggregate Report'", variables=RCPT_DOMAIN_VARS,
        fallback="Mail Delivery Subsystem"),
    SettingSpec(
        _TLS + "from-address", ResultType.TEXT,
        "Address of the From header (and MAIL FROM) of TLS report messages.",
        default="'noreply-tls@' + " + _DOMAIN_SIGNATURE, variables=RCPT_DOMAIN_VARS,
        fallback="MAILER-DAEMON@localhost"),
    SettingSpec(
        _TLS + "org-name", ResultType.TEXT,
        "The report's `organization-name`.",
        default=_DOMAIN_SIGNATURE, variables=RCPT_DOMAIN_VARS,
        fallback_note="no organisation name"),
    SettingSpec(
        _TLS + "contact-info", ResultType.TEXT,
        "The report's `contact-info`: an address to contact about the report.",
        variables=RCPT_DOMAIN_VARS,
        fallback_note="no contact (the report uses `postmaster@<submitter>`)"),
    SettingSpec(
        _TLS + "send", ResultType.FREQUENCY,
        "How often TLS reports are sent for a recipient domain: hourly, daily, weekly or "
        "never. Evaluated for each delivery with the queue's variables.",
        default="daily", variables=SMTP_QUEUE_HOST_VARS, constants=FREQUENCY_CONSTANTS,
        fallback=Frequency.NEVER.value, fallback_note="never"),
    SettingSpec(
        _TLS + "max-size", ResultType.SIZE,
        "The largest report to send, in bytes of JSON; failure details are dropped to fit.",
        default="26214400", variables=RCPT_DOMAIN_VARS, fallback=26214400),
    SettingSpec(
        _TLS + "sign", ResultType.TEXT_LIST,
        "The DKIM signatures (ids of `signature.<id>` sections) that sign report messages. "
        "Evaluated without a recipient domain (`rcpt_domain` is '').",
        default="['rsa-' + " + _DOMAIN_SIGNATURE + ", 'ed25519-' + " + _DOMAIN_SIGNATURE + "]",
        variables=RCPT_DOMAIN_VARS, fallback=[], fallback_note="no signature"),
    SettingSpec(
        "signature.*.private-key", ResultType.PLAIN_TEXT,
        "The PEM private key (RSA or Ed25519), usually `%{file:/path/key.pem}%`.",
        required=True),
    SettingSpec(
        "signature.*.domain", ResultType.PLAIN_TEXT, "The signing domain (`d=`).",
        required=True),
    SettingSpec(
        "signature.*.selector", ResultType.PLAIN_TEXT, "The selector (`s=`).", required=True),
    SettingSpec(
        "signature.*.algorithm", ResultType.PLAIN_TEXT,
        "`rsa-sha256` or `ed25519-sha256`.", fallback="rsa-sha256"),
    SettingSpec(
        "signature.*.canonicalization", ResultType.PLAIN_TEXT,
        "Header/body canonicalization: `relaxed/relaxed`, `simple/simple`...",
        fallback="relaxed/relaxed"),
    SettingSpec(
        "signature.*.headers", ResultType.PLAIN_TEXT,
        "Headers to sign (a TOML array); the TLS report headers are always added.",
        fallback_note="From, To, Date, Subject, Message-ID, MIME-Version, Content-Type"),
)

_BY_KEY: Final = {spec.key: spec for spec in SETTINGS if "*" not in spec.key}
_PATTERNS: Final = tuple(spec for spec in SETTINGS if "*" in spec.key)

#: The TLS aggregate settings, in the order `tlsrpt resolve` shows them.
TLS_AGGREGATE_KEYS: Final = tuple(spec.key for spec in SETTINGS if spec.key.startswith(_TLS))


def find(key: str) -> SettingSpec | None:
    """The registry entry for a flat key (patterns included), or None if unknown."""
    spec = _BY_KEY.get(key)
    if spec is not None:
        return spec
    return next((pattern for pattern in _PATTERNS if pattern.matches(key)), None)


def expression_settings() -> tuple[SettingSpec, ...]:
    return tuple(spec for spec in SETTINGS if spec.is_expression)
