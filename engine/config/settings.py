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
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DURATION = "duration"  # whole seconds; Stalwart's duration words (`3h`) mean what they say
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
    #: the bounds a number is clamped into when it is used (lint warns about a value outside)
    minimum: int | None = None
    maximum: int | None = None

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
        fallback_note="`lookup.default.domain`, else the registrable domain of "
                      "`server.hostname` under the public suffix list (`mx1.mail.example.co.uk`"
                      " gives `example.co.uk`), else the host name itself"),
    SettingSpec(
        "report.store.path", ResultType.PLAIN_TEXT,
        "The SQLite file of the event store (`tlsrpt record`, `tlsrpt report`); `--db` "
        "overrides it.", fallback_note="`tlsrpt.db` in the current folder"),
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
    # Extensions of this project (spec/reporting.md 10), expressions like Stalwart's own.
    SettingSpec(
        _TLS + "delay", ResultType.DURATION,
        "Upper bound of the spread of send times after a window closes.",
        default="10800", variables=RCPT_DOMAIN_VARS, fallback=10800, minimum=0),
    SettingSpec(
        _TLS + "send-all-success", ResultType.BOOLEAN,
        "Send reports that hold only successful sessions (false: only reports with failures).",
        default="true", variables=RCPT_DOMAIN_VARS, fallback=1),
    SettingSpec(
        _TLS + "retry-max-age", ResultType.DURATION,
        "How long a failed delivery of a report is retried.",
        default="86400", variables=RCPT_DOMAIN_VARS, fallback=86400, minimum=0),
    SettingSpec(
        _TLS + "max-destinations", ResultType.INTEGER,
        "Most destinations (rua URIs) one report is sent to.",
        default="10", variables=RCPT_DOMAIN_VARS, fallback=10, minimum=0),
    SettingSpec(
        _TLS + "suppress", ResultType.TEXT_LIST,
        "Destinations never sent to: addresses, domains or URI prefixes.",
        default="[]", variables=RCPT_DOMAIN_VARS, fallback=[]),
    SettingSpec(
        _TLS + "bcc", ResultType.TEXT_LIST,
        "Addresses that receive a copy of every report by mail (the operator), whatever the "
        "domain's destinations; a separate delivery unit, so a failing copy never delays the "
        "report.", default="[]", variables=RCPT_DOMAIN_VARS, fallback=[]),
    SettingSpec(
        _TLS + "unique-id", ResultType.TEXT,
        "Suffix of report file names (letters and digits), for several reporters of one "
        "submitter.", variables=RCPT_DOMAIN_VARS),
    SettingSpec(
        _TLS + "compression-level", ResultType.INTEGER, "gzip level of the report file (1-9).",
        default="6", variables=RCPT_DOMAIN_VARS, fallback=6, minimum=1, maximum=9),
    SettingSpec(
        _TLS + "https-timeout", ResultType.DURATION,
        "How long an HTTPS delivery may take.", default="120", variables=RCPT_DOMAIN_VARS,
        fallback=120, minimum=1),
    SettingSpec(
        _TLS + "https-verify", ResultType.BOOLEAN,
        "Verify the certificates of HTTPS destinations.", default="true",
        variables=RCPT_DOMAIN_VARS, fallback=1),
    SettingSpec(
        _TLS + "sent-log-retention", ResultType.DURATION,
        "How long the log of sent reports is kept.", default="604800",
        variables=RCPT_DOMAIN_VARS, fallback=604800, minimum=0),
    # The analysis of incoming reports (spec/reporting.md 7, `tlsrpt analyze`).
    SettingSpec(
        "report.analysis.require-dkim", ResultType.BOOLEAN,
        "Accept an emailed report only when at least one DKIM-Signature verifies (RFC 8460 "
        "3); false keeps unauthenticated reports with a warning.", default="true", fallback=1),
    SettingSpec(
        "report.analysis.require-tlsrpt-service", ResultType.BOOLEAN,
        "The verifying DKIM key must be restricted to the tlsrpt service (`s=tlsrpt`, "
        "dkimpy's strict mode).", default="false", fallback=0),
    SettingSpec(
        "report.analysis.require-aligned", ResultType.BOOLEAN,
        "The verifying signature's `d=` must equal the TLS-Report-Submitter domain or be a "
        "parent domain of it.", default="false", fallback=0),
    SettingSpec(
        "report.analysis.store-path", ResultType.PLAIN_TEXT,
        "The SQLite file of analysed reports (`tlsrpt analyze --store`, `--from-store`, "
        "`--reprocess`); `--store` overrides it.",
        fallback_note="`tlsrpt-reports.db` in the current folder"),
    SettingSpec(
        "report.analysis.limits.*", ResultType.PLAIN_TEXT,
        "A safety limit of the analysis (spec/reporting.md 7.4), by name: `input`, `parts`, "
        "`mime-depth`, `part-size`, `header-size`, `header-fields`, `decompressed`, `ratio`, "
        "`zip-entries`, `json-depth`, `json-elements`, `policies`, `failure-details`, "
        "`items`, `policy-string-length`, `string-length`. A whole number; sizes may carry a "
        "unit (`20MiB`). `tlsrpt analyze --limit NAME=VALUE` overrides it.",
        fallback_note="the default of spec 7.4 (docs/analysis.md lists them)"),
    # The libtlsrpt datagram collector (spec/reporting.md 8, `tlsrpt collect`, docs/postfix.md).
    SettingSpec(
        "collector.socket", ResultType.PLAIN_TEXT,
        "The Unix datagram socket `tlsrpt collect` listens on: the file Postfix's "
        "`smtp_tlsrpt_socket_name` names. `--socket` overrides it.",
        fallback_note="none: `--socket` is then required"),
    SettingSpec(
        "collector.owner", ResultType.PLAIN_TEXT,
        "User (name or number) that owns the socket file; `--owner` overrides it.",
        fallback_note="the user running `tlsrpt collect`"),
    SettingSpec(
        "collector.group", ResultType.PLAIN_TEXT,
        "Group (name or number) of the socket file, usually Postfix's; `--group` overrides "
        "it.", fallback_note="the group of the user running `tlsrpt collect`"),
    SettingSpec(
        "collector.mode", ResultType.PLAIN_TEXT,
        "Permissions of the socket file, in octal (`0660`, `660` or `0o660`); a sender needs "
        "write permission. `--mode` overrides it.", fallback="0660"),
    SettingSpec(
        "collector.max-datagram", ResultType.PLAIN_TEXT,
        "The longest datagram accepted, in bytes; a longer one is dropped and counted as "
        "truncated. `--max-datagram` overrides it.", fallback=1048576),
    SettingSpec(
        "collector.batch-size", ResultType.PLAIN_TEXT,
        "Most datagrams stored per transaction. `--batch-size` overrides it.", fallback=1000),
    SettingSpec(
        "collector.batch-interval", ResultType.PLAIN_TEXT,
        "Longest time, in milliseconds, a received datagram waits before it is stored. "
        "`--batch-interval` overrides it.", fallback=200),
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
        fallback_note="From, To, Date, Subject, Message-ID (TLS-Report-Domain and "
                      "TLS-Report-Submitter are always added)"),
)

_BY_KEY: Final = {spec.key: spec for spec in SETTINGS if "*" not in spec.key}
_PATTERNS: Final = tuple(spec for spec in SETTINGS if "*" in spec.key)

#: Stalwart's TLS aggregate settings, in the order of TlsAggregateSettings and of
#: `tlsrpt resolve`.
TLS_AGGREGATE_KEYS: Final = tuple(_TLS + name for name in (
    "from-name", "from-address", "org-name", "contact-info", "send", "max-size", "sign"))


def find(key: str) -> SettingSpec | None:
    """The registry entry for a flat key (patterns included), or None if unknown."""
    spec = _BY_KEY.get(key)
    if spec is not None:
        return spec
    return next((pattern for pattern in _PATTERNS if pattern.matches(key)), None)


def expression_settings() -> tuple[SettingSpec, ...]:
    return tuple(spec for spec in SETTINGS if spec.is_expression)
