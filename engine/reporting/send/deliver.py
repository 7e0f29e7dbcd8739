"""Delivery of a rendered report to its destinations (spec/reporting.md 5.2, 5.5, 6.1).

Two kinds of delivery unit (spec 5.2):

* the mail group: every `mailto:` destination of a report receives one signed message through
  the SMTP relay configured under `[report.relay]` (`send_mail`);
* each `https:` destination receives its own POST of the gzip payload (`post_report`).

Both return a `DeliveryResult`: an `DeliveryOutcome` (delivered, temporary failure, permanent failure;
the scheduler maps them to DELIVERED, a retry on the backoff schedule, and FAILED, spec 6.1)
and a one-line `detail` that the scheduler keeps as the unit's `last_error`. Neither function
raises for anything the network or the peer does; only caller mistakes (e.g. no recipients)
raise ValueError.

Only the standard library is used (smtplib, ssl, http.client). TLS certificates are verified
by default against the system's trust store, or against `ca_file` alone when one is given;
`verify=False` turns verification off (RFC 8460 3 allows it for HTTPS, spec 5.5).
"""

from __future__ import annotations

import enum
import http.client
import math
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

#: the `security` values of `[report.relay]`
SECURITY_MODES: Final = ("none", "starttls", "tls")
#: media type of the POST body (RFC 8460 5.4); the body is a gzip file, so no Content-Encoding
CONTENT_TYPE: Final = "application/tlsrpt+gzip"
#: at most this much of an HTTP response body is read, then ignored (spec 5.5)
MAX_RESPONSE_BODY: Final = 64 * 1024
#: HTTP statuses outside 5xx that are worth retrying (spec 5.5)
_TEMPORARY_HTTP: Final = frozenset({408, 429})
_MAX_DETAIL: Final = 300
_RELAY_PREFIX: Final = "report.relay."


class DeliveryOutcome(enum.Enum):
    """The result of one attempt to deliver one unit (spec 6.1)."""

    DELIVERED = "delivered"
    #: worth retrying on the backoff schedule until `retry-max-age`
    TEMPORARY = "temporary"
    #: retrying will not help: the unit is FAILED at once
    PERMANENT = "permanent"


@dataclass(frozen=True)
class DeliveryResult:
    """An `DeliveryOutcome` and a one-line reason (SMTP reply code and text, HTTP status, or an
    exception's class and message) for logs and the unit's `last_error`."""

    outcome: DeliveryOutcome
    detail: str


@dataclass(frozen=True)
class RelaySettings:
    """The SMTP relay that mail units are submitted to (`[report.relay]`).

    `security`: `none` (plain SMTP), `starttls` (STARTTLS is required: a relay that does not
    offer it is a temporary failure, never a silent fall-back to plain text) or `tls` (TLS
    from the first byte, "SMTPS"). `username` and `password` come together; with them the
    reporter authenticates (AUTH) after TLS is up. Note that with `security = "none"` the
    password crosses the network in clear. `timeout` (seconds) applies to the connection and
    to every command. `ca_file` replaces the system trust store for the relay's certificate;
    `verify = False` accepts any certificate.
    """

    host: str
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 60.0
    ca_file: str | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"report.relay.host must be a host name, not {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 1 <= self.port <= 65535:
            raise ValueError(f"report.relay.port must be 1-65535, not {self.port!r}")
        if self.security not in SECURITY_MODES:
            raise ValueError("report.relay.security must be one of "
                             f"{', '.join(SECURITY_MODES)}, not {self.security!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) \
                or not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError("report.relay.timeout must be a positive number of seconds, "
                             f"not {self.timeout!r}")
        if (self.username is None) != (self.password is None):
            raise ValueError("report.relay.username and report.relay.password must be set "
                             "together")

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> RelaySettings:
        """Read `report.relay.*` from the flat configuration (texts as loaded from TOML:
        numbers keep their source text, booleans are `true`/`false`).

        Keys: `host` (required), `port` (default 25), `security` (default `none`),
        `username`, `password` (empty means unset), `timeout` (default 60 s), `ca-file`,
        `verify` (default true). Raises ValueError with a message naming the key.
        """
        def get(name: str) -> str | None:
            value = values.get(_RELAY_PREFIX + name)
            return None if value is None else value.strip()

        host = get("host")
        if not host:
            raise ValueError("no [report.relay] host configured")
        port = 25
        if (text := get("port")) is not None:
            try:
                port = int(text, 0)
            except ValueError:
                raise ValueError(f"report.relay.port must be an integer, not {text!r}") from None
        security = "none"
        if (text := get("security")) is not None:
            security = text.lower()
        timeout = 60.0
        if (text := get("timeout")) is not None:
            try:
                timeout = float(text)
            except ValueError:
                raise ValueError(
                    f"report.relay.timeout must be a number of seconds, not {text!r}") from None
        verify = True
        if (text := get("verify")) is not None:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"report.relay.verify must be true or false, not {text!r}")
            verify = text.lower() == "true"
        username = values.get(_RELAY_PREFIX + "username") or None
        password = values.get(_RELAY_PREFIX + "password") or None
        ca_file = get("ca-file") or None
        return cls(host=host, port=port, security=security, username=username,
                   password=password, timeout=timeout, ca_file=ca_file, verify=verify)


def tls_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context: certificates and host names verified against the system trust store,
    or against `ca_file` only when given; nothing verified when `verify` is false."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)


# --------------------------------------------------------------------------------------------
# Mail


class _RelayFailure(Exception):
    """Raised inside `send_mail` for a failure before the mail transaction (connect, TLS,
    EHLO, AUTH): always temporary, since the relay is ours and a fixed configuration or a
    recovered relay lets a retry succeed (like signing errors, spec 5.6)."""


def send_mail(relay: RelaySettings, *, mail_from: str, recipients: Sequence[str],
              message: bytes) -> DeliveryResult:
    """Submit `message` (the signed CRLF bytes) to `relay` with envelope `mail_from` and one
    RCPT TO per recipient (spec 5.3).

    The bytes are sent as they are: no re-encoding and no line-ending changes; lines starting
    with "." are dot-stuffed on the wire only, so the relay receives exactly `message` (a CRLF
    is appended only when `message` does not end with one).

    Outcomes:

    * every recipient accepted and the message accepted -> DELIVERED;
    * failures before the mail transaction -- connection refused, DNS, timeouts, TLS errors
      (including an unverifiable certificate), a relay that does not offer STARTTLS when it is
      required, a refused greeting or EHLO, AUTH not offered or credentials rejected ->
      TEMPORARY;
    * MAIL FROM or DATA refused -> by the reply code: 4xx TEMPORARY, 5xx PERMANENT, except
      530 (authentication or STARTTLS required by the relay: a configuration problem) which is
      TEMPORARY wherever it appears;
    * recipients refused: every recipient is classified (accepted; 4xx temporary; 5xx
      permanent) and the unit takes the worst, where temporary counts as worse than permanent:
      if any recipient was refused temporarily the result is TEMPORARY (a retry is the only way
      to reach it; resending to the others is the at-least-once duplicate spec 6.4 accepts);
      otherwise, if any was refused permanently, PERMANENT (also when the others accepted it:
      retrying would only duplicate); the detail names every refused recipient;
    * addresses with CR or LF -> PERMANENT; non-ASCII addresses need SMTPUTF8, and a relay
      without it -> PERMANENT.

    `detail` is the last SMTP reply (`250 ...`, `550 5.1.1 ...`) or the exception.
    """
    if isinstance(recipients, str) or not recipients:
        raise ValueError("send_mail needs at least one recipient (a sequence of addresses)")
    for address in (mail_from, *recipients):
        if "\r" in address or "\n" in address:
            return DeliveryResult(DeliveryOutcome.PERMANENT, f"invalid address {address!r}")
    smtputf8 = not all(address.isascii() for address in (mail_from, *recipients))

    client: smtplib.SMTP | None = None
    try:
        try:
            client = _connect(relay)
        except (smtplib.SMTPException, OSError) as error:
            raise _RelayFailure(_describe(error)) from error
        return _transaction(client, mail_from, recipients, message, smtputf8=smtputf8)
    except _RelayFailure as failure:
        return DeliveryResult(DeliveryOutcome.TEMPORARY, _one_line(str(failure)))
    except smtplib.SMTPNotSupportedError as error:  # SMTPUTF8 needed but not offered
        return DeliveryResult(DeliveryOutcome.PERMANENT, _describe(error))
    except UnicodeError as error:
        return DeliveryResult(DeliveryOutcome.PERMANENT, _describe(error))
    except (smtplib.SMTPException, OSError) as error:
        return DeliveryResult(DeliveryOutcome.TEMPORARY, _describe(error))
    finally:
        if client is not None:
            _quit(client)


def _transaction(client: smtplib.SMTP, mail_from: str, recipients: Sequence[str],
                 message: bytes, *, smtputf8: bool) -> DeliveryResult:
    """MAIL, RCPT for each recipient, DATA (what smtplib's sendmail does, keeping the replies)."""
    options: list[str] = []
    if client.does_esmtp:
        if client.has_extn("size"):
            options.append(f"SIZE={len(message)}")
        if not message.isascii() and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if smtputf8:
            options.append("SMTPUTF8")  # smtplib raises SMTPNotSupportedError if not offered
    elif smtputf8:
        raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by the relay")
    text: bytes | str  # replies are bytes; an SMTPDataError's text may be a str
    code, text = client.mail(mail_from, options)
    if code != 250:
        _reset(client, code)
        return _code_result(code, f"MAIL FROM refused: {_reply(code, text)}")
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, text = client.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, text)
        if code == 421:  # the relay is closing the connection: nothing was sent
            client.close()
            return _recipients_result(refused, delivered=False)
    if len(refused) == len(recipients):
        _reset(client, 0)
        return _recipients_result(refused, delivered=False)
    try:
        code, text = client.data(message)  # dot-stuffs; appends CRLF only if missing
    except smtplib.SMTPDataError as error:  # DATA itself refused (no 354)
        code, text = error.smtp_code, error.smtp_error
    if code != 250:
        _reset(client, code)
        return _code_result(code, f"DATA refused: {_reply(code, text)}")
    if refused:
        return _recipients_result(refused, delivered=True)
    return DeliveryResult(DeliveryOutcome.DELIVERED, _one_line(_reply(code, text)))


def _reset(client: smtplib.SMTP, code: int) -> None:
    if code == 421:
        client.close()
        return
    try:
        client.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _connect(relay: RelaySettings) -> smtplib.SMTP:
    """An open, greeted (EHLO), secured and authenticated connection to the relay."""
    client: smtplib.SMTP
    if relay.security == "tls":
        context = tls_context(verify=relay.verify, ca_file=relay.ca_file)
        client = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout,
                                  context=context)
    else:
        client = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
    try:
        _ehlo(client)
        if relay.security == "starttls":
            if not client.has_extn("starttls"):
                raise _RelayFailure(f"relay {relay.host}:{relay.port} does not offer STARTTLS")
            context = tls_context(verify=relay.verify, ca_file=relay.ca_file)
            code, text = client.starttls(context=context)
            if code != 220:
                raise _RelayFailure(f"STARTTLS refused: {_reply(code, text)}")
            _ehlo(client)
        if relay.username is not None and relay.password is not None:
            if not client.has_extn("auth"):
                raise _RelayFailure(f"relay {relay.host}:{relay.port} does not offer AUTH")
            client.login(relay.username, relay.password)
    except BaseException:
        _quit(client)
        raise
    return client


def _ehlo(client: smtplib.SMTP) -> None:
    code, text = client.ehlo()
    if not 200 <= code <= 299:
        code, text = client.helo()
        if not 200 <= code <= 299:
            raise _RelayFailure(f"EHLO refused: {_reply(code, text)}")


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def _recipients_result(refused: Mapping[str, tuple[int, bytes | str]], *,
                       delivered: bool) -> DeliveryResult:
    outcomes = [_code_outcome(code) for code, _ in refused.values()]
    if DeliveryOutcome.TEMPORARY in outcomes or not refused:
        outcome = DeliveryOutcome.TEMPORARY
    else:
        outcome = DeliveryOutcome.PERMANENT
    parts = [f"RCPT <{address}>: {_reply(code, text)}" for address, (code, text) in refused.items()]
    prefix = "accepted for the other recipients; " if delivered else ""
    return DeliveryResult(outcome, _one_line(prefix + "; ".join(parts)))


def _code_outcome(code: int) -> DeliveryOutcome:
    # 530 (RFC 4954 "authentication required", RFC 3207 "must issue STARTTLS first") is the
    # relay asking for configuration we lack: fixable, so temporary like other relay problems
    if code == 530:
        return DeliveryOutcome.TEMPORARY
    return DeliveryOutcome.PERMANENT if 500 <= code <= 599 else DeliveryOutcome.TEMPORARY


def _code_result(code: int, detail: str) -> DeliveryResult:
    return DeliveryResult(_code_outcome(code), _one_line(detail))


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


# --------------------------------------------------------------------------------------------
# HTTPS


def post_report(url: str, payload: bytes, *, timeout: float = 120.0, verify: bool = True,
                ca_file: str | None = None, user_agent: str = "tlsrpt-engine"
                ) -> DeliveryResult:
    """POST `payload` (the gzip file) to the https `url` (spec 5.5).

    Headers: `Content-Type: application/tlsrpt+gzip`, `User-Agent`, `Content-Length`; no
    `Content-Encoding`. Redirects are not followed. At most 64 KiB of the response body is
    read and ignored. `timeout` applies to connecting and to each read and write (it is the
    socket timeout of http.client, not a bound on the whole exchange).

    Outcomes: 2xx DELIVERED; 408, 429, 5xx, connection, DNS, TLS (including an unverifiable
    certificate) and timeout errors and malformed responses TEMPORARY; every other status
    (3xx, other 4xx) PERMANENT; a URL that is not `https:` or has no host PERMANENT.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return DeliveryResult(DeliveryOutcome.PERMANENT, _one_line(f"invalid URL {url!r}: {error}"))
    if parts.scheme.lower() != "https":
        return DeliveryResult(DeliveryOutcome.PERMANENT, _one_line(
            f"only https destinations are supported, not {url!r}"))
    host = parts.hostname
    if not host:
        return DeliveryResult(DeliveryOutcome.PERMANENT, _one_line(f"no host in URL {url!r}"))
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"Content-Type": CONTENT_TYPE, "User-Agent": user_agent, "Connection": "close"}

    connection = http.client.HTTPSConnection(
        host, port, timeout=timeout, context=tls_context(verify=verify, ca_file=ca_file))
    try:
        try:
            connection.request("POST", target, body=payload, headers=headers)
            response = connection.getresponse()
        except (http.client.HTTPException, OSError) as error:
            return DeliveryResult(DeliveryOutcome.TEMPORARY, _describe(error))
        except (UnicodeError, ValueError) as error:  # e.g. a host or path that is not ASCII
            return DeliveryResult(DeliveryOutcome.PERMANENT, _describe(error))
        status, reason = response.status, response.reason
        location = response.getheader("Location")
        try:
            response.read(MAX_RESPONSE_BODY)
        except (http.client.HTTPException, OSError):
            pass  # the status decides; the body is ignored anyway
    finally:
        connection.close()

    detail = f"HTTP {status} {reason}".strip()
    if 200 <= status <= 299:
        return DeliveryResult(DeliveryOutcome.DELIVERED, _one_line(detail))
    if status in _TEMPORARY_HTTP or 500 <= status <= 599:
        return DeliveryResult(DeliveryOutcome.TEMPORARY, _one_line(detail))
    if 300 <= status <= 399:
        detail += f" (redirect to {location!r} not followed)" if location else \
            " (redirect not followed)"
    return DeliveryResult(DeliveryOutcome.PERMANENT, _one_line(detail))


# --------------------------------------------------------------------------------------------


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = f"{type(error).__name__}: {_reply(error.smtp_code, error.smtp_error)}"
    elif isinstance(error, (TimeoutError, socket.timeout)) and not str(error):
        text = f"{type(error).__name__}: timed out"
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return _one_line(text)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > _MAX_DETAIL:
        line = line[:_MAX_DETAIL - 3] + "..."
    return line
