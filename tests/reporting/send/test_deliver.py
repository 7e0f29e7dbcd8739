"""Delivery over the network (spec/reporting.md 5.2, 5.5, 6.1): a real aiosmtpd relay and a
real HTTPS server, both on 127.0.0.1 with certificates made by trustme.

Test dependencies: `aiosmtpd`, `trustme`.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")
trustme = pytest.importorskip("trustme")

from engine.reporting.send.deliver import (  # noqa: E402
    CONTENT_TYPE,
    DeliveryResult,
    DeliveryOutcome,
    RelaySettings,
    post_report,
    send_mail,
)
from engine.reporting.send.message import build_message, compress  # noqa: E402

HOST = "127.0.0.1"

# --------------------------------------------------------------------------------------------
# certificates


@pytest.fixture
def pki(tls_pki: Any) -> Any:
    """The certificates of conftest.py: a CA file, a server context, and another CA."""
    return tls_pki


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------------------------
# SMTP relay


@dataclass
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool | None


@dataclass
class Recorder:
    """aiosmtpd handler: refuses recipients starting with `temp` (450) or `perm` (550),
    answers DATA with `data_reply` when set, and records every accepted message."""

    data_reply: str | None = None
    arrived: list[Arrived] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("temp"):
            return "450 4.2.1 mailbox busy, try later"
        if address.startswith("perm"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.arrived.append(Arrived(
            envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content),
            server.transport.get_extra_info("ssl_object") is not None, session.authenticated))
        return "250 2.0.0 Ok: queued as TEST1"


@dataclass
class Relay:
    port: int
    recorder: Recorder


RelayFactory = Callable[..., Relay]


@pytest.fixture
def smtp_relay() -> Iterator[RelayFactory]:
    controllers: list[Any] = []

    def start(recorder: Recorder | None = None, **options: Any) -> Relay:
        recorder = recorder or Recorder()
        port = free_port()
        controller = aiosmtpd_controller.Controller(recorder, hostname=HOST, port=port,
                                                    **options)
        controller.start()
        controllers.append(controller)
        return Relay(port, recorder)

    yield start
    for controller in controllers:
        controller.stop()


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> Any:
    ok = auth_data.login == b"reporter" and auth_data.password == b"s3cret"
    return aiosmtpd_smtp.AuthResult(success=ok, handled=False)


#: a message with the features that a careless transport changes: CRLF, lines starting with
#: "." (dot-stuffing), a lone "." line, trailing spaces, an empty last line
TRICKY = (b"From: <noreply-tls@example.com>\r\nTo: <a@example.net>\r\nSubject: t\r\n\r\n"
          b".leading dot\r\n.\r\n..two dots\r\ntrailing space \r\n\tTab\r\n\r\n")


def report_message(recipients: list[str]) -> bytes:
    payload = compress(b'{"organization-name":"example.com"}', 6)
    return build_message(payload_gz=payload, report_id="2024-05-06T00:00:00Z_example.com",
                         report_domain="example.com", submitter="mx.example.com",
                         from_name="TLS Aggregate Report",
                         from_address="noreply-tls@example.com", recipients=recipients,
                         filename="mx.example.com!example.com!1714953600!1715039999.json.gz",
                         date=1715050182)


def test_plain_relay_receives_the_built_message_byte_for_byte(
        smtp_relay: RelayFactory) -> None:
    relay = smtp_relay()
    recipients = ["tlsrpt@example.net", "reports@example.org"]
    message = report_message(recipients)
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="noreply-tls@example.com",
                       recipients=recipients, message=message)
    assert result == DeliveryResult(DeliveryOutcome.DELIVERED, "250 2.0.0 Ok: queued as TEST1")
    [arrived] = relay.recorder.arrived
    assert arrived.mail_from == "noreply-tls@example.com"
    assert arrived.rcpt_tos == recipients
    assert arrived.content == message
    assert not arrived.tls


def test_dots_and_line_endings_survive(smtp_relay: RelayFactory) -> None:
    relay = smtp_relay()
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.DELIVERED
    [arrived] = relay.recorder.arrived
    assert arrived.content == TRICKY
    assert arrived.mail_from == "<>"


def test_starttls_with_ca_file(smtp_relay: RelayFactory, pki: Any) -> None:
    relay = smtp_relay(tls_context=pki.server_context, require_starttls=True)
    settings = RelaySettings(HOST, relay.port, security="starttls", timeout=10,
                             ca_file=pki.ca_file)
    result = send_mail(settings, mail_from="noreply-tls@example.com",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.DELIVERED, result
    [arrived] = relay.recorder.arrived
    assert arrived.tls and arrived.content == TRICKY


@pytest.mark.parametrize("ca", ["system", "other"])
def test_starttls_untrusted_certificate_is_temporary(smtp_relay: RelayFactory, pki: Any,
                                                     ca: str) -> None:
    relay = smtp_relay(tls_context=pki.server_context, require_starttls=True)
    settings = RelaySettings(HOST, relay.port, security="starttls", timeout=10,
                             ca_file=None if ca == "system" else pki.other_ca_file)
    result = send_mail(settings, mail_from="noreply-tls@example.com",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail or "certificate" in result.detail
    assert relay.recorder.arrived == []


def test_starttls_without_verification(smtp_relay: RelayFactory, pki: Any) -> None:
    relay = smtp_relay(tls_context=pki.server_context, require_starttls=True)
    settings = RelaySettings(HOST, relay.port, security="starttls", timeout=10, verify=False)
    result = send_mail(settings, mail_from="", recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.DELIVERED


def test_starttls_not_offered_is_temporary(smtp_relay: RelayFactory) -> None:
    relay = smtp_relay()
    settings = RelaySettings(HOST, relay.port, security="starttls", timeout=10)
    result = send_mail(settings, mail_from="", recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "does not offer STARTTLS" in result.detail
    assert relay.recorder.arrived == []


def test_implicit_tls(smtp_relay: RelayFactory, pki: Any) -> None:
    relay = smtp_relay(ssl_context=pki.server_context)
    settings = RelaySettings(HOST, relay.port, security="tls", timeout=10, ca_file=pki.ca_file)
    result = send_mail(settings, mail_from="noreply-tls@example.com",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.DELIVERED, result
    [arrived] = relay.recorder.arrived
    assert arrived.tls and arrived.content == TRICKY

    untrusted = RelaySettings(HOST, relay.port, security="tls", timeout=10)
    assert send_mail(untrusted, mail_from="", recipients=["a@example.net"],
                     message=TRICKY).outcome is DeliveryOutcome.TEMPORARY


def test_authentication(smtp_relay: RelayFactory, pki: Any) -> None:
    relay = smtp_relay(tls_context=pki.server_context, require_starttls=True,
                       authenticator=authenticator, auth_required=True)

    def attempt(**credentials: Any) -> DeliveryResult:
        settings = RelaySettings(HOST, relay.port, security="starttls", timeout=10,
                                 ca_file=pki.ca_file, **credentials)
        return send_mail(settings, mail_from="noreply-tls@example.com",
                         recipients=["a@example.net"], message=TRICKY)

    without = attempt()
    assert without.outcome is DeliveryOutcome.TEMPORARY  # MAIL refused with 530: the relay is ours
    assert "530" in without.detail
    wrong = attempt(username="reporter", password="wrong")
    assert wrong.outcome is DeliveryOutcome.TEMPORARY
    assert "535" in wrong.detail
    assert relay.recorder.arrived == []

    right = attempt(username="reporter", password="s3cret")
    assert right.outcome is DeliveryOutcome.DELIVERED, right
    [arrived] = relay.recorder.arrived
    assert arrived.authenticated and arrived.content == TRICKY


def test_auth_not_offered_is_temporary(smtp_relay: RelayFactory) -> None:
    # aiosmtpd offers AUTH only over TLS by default
    relay = smtp_relay(authenticator=authenticator)
    settings = RelaySettings(HOST, relay.port, timeout=10, username="reporter",
                             password="s3cret")
    result = send_mail(settings, mail_from="", recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "does not offer AUTH" in result.detail


@pytest.mark.parametrize(("recipients", "outcome", "delivered"), [
    (["temp1@example.net"], DeliveryOutcome.TEMPORARY, False),
    (["perm1@example.net"], DeliveryOutcome.PERMANENT, False),
    (["perm1@example.net", "perm2@example.net"], DeliveryOutcome.PERMANENT, False),
    (["temp1@example.net", "perm1@example.net"], DeliveryOutcome.TEMPORARY, False),
    (["a@example.net", "perm1@example.net"], DeliveryOutcome.PERMANENT, True),
    (["a@example.net", "temp1@example.net"], DeliveryOutcome.TEMPORARY, True),
    (["a@example.net", "temp1@example.net", "perm1@example.net"], DeliveryOutcome.TEMPORARY, True),
])
def test_refused_recipients(smtp_relay: RelayFactory, recipients: list[str],
                            outcome: DeliveryOutcome, delivered: bool) -> None:
    relay = smtp_relay()
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="",
                       recipients=recipients, message=TRICKY)
    assert result.outcome is outcome
    for recipient in recipients:
        if recipient.startswith(("temp", "perm")):
            assert f"<{recipient}>" in result.detail
    assert "450" in result.detail or "550" in result.detail
    assert "\n" not in result.detail
    if delivered:
        [arrived] = relay.recorder.arrived
        assert arrived.rcpt_tos == ["a@example.net"]
    else:
        assert relay.recorder.arrived == []


@pytest.mark.parametrize(("reply", "outcome"), [
    ("450 4.3.0 queue full", DeliveryOutcome.TEMPORARY),
    ("451 4.3.0 local error", DeliveryOutcome.TEMPORARY),
    ("550 5.7.1 message rejected", DeliveryOutcome.PERMANENT),
    ("554 5.6.0 content rejected", DeliveryOutcome.PERMANENT),
])
def test_data_refused(smtp_relay: RelayFactory, reply: str, outcome: DeliveryOutcome) -> None:
    relay = smtp_relay(Recorder(data_reply=reply))
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is outcome
    assert reply in result.detail


def test_nothing_listening_is_temporary() -> None:
    result = send_mail(RelaySettings(HOST, free_port(), timeout=5), mail_from="",
                       recipients=["a@example.net"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "ConnectionRefusedError" in result.detail


def test_silent_relay_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never greets
        listener.bind((HOST, 0))
        listener.listen(1)
        settings = RelaySettings(HOST, listener.getsockname()[1], timeout=0.3)
        result = send_mail(settings, mail_from="", recipients=["a@example.net"],
                           message=TRICKY)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "timed out" in result.detail


def test_addresses_with_line_breaks_are_permanent(smtp_relay: RelayFactory) -> None:
    relay = smtp_relay()
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="",
                       recipients=["a@example.net\r\nRCPT TO:<b@example.net>"],
                       message=TRICKY)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert relay.recorder.arrived == []


def test_no_recipients_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        send_mail(RelaySettings(HOST), mail_from="", recipients=[], message=TRICKY)
    with pytest.raises(ValueError):
        send_mail(RelaySettings(HOST), mail_from="", recipients="a@example.net",
                  message=TRICKY)


def test_non_ascii_recipient_uses_smtputf8(smtp_relay: RelayFactory) -> None:
    relay = smtp_relay()
    result = send_mail(RelaySettings(HOST, relay.port, timeout=10), mail_from="",
                       recipients=["tlsrpt@bücher.example"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.DELIVERED, result
    assert relay.recorder.arrived[0].rcpt_tos == ["tlsrpt@bücher.example"]

    plain = smtp_relay(enable_SMTPUTF8=False)
    result = send_mail(RelaySettings(HOST, plain.port, timeout=10), mail_from="",
                       recipients=["tlsrpt@bücher.example"], message=TRICKY)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert "SMTPUTF8" in result.detail


# --------------------------------------------------------------------------------------------
# RelaySettings.from_values


def test_relay_settings_from_values() -> None:
    settings = RelaySettings.from_values({
        "report.relay.host": "smtp.example.com", "report.relay.port": "587",
        "report.relay.security": "starttls", "report.relay.username": "reporter",
        "report.relay.password": "s3cret", "report.relay.timeout": "12.5",
        "report.relay.ca-file": "/etc/ssl/relay.pem", "report.relay.verify": "false",
        "report.other": "ignored",
    })
    assert settings == RelaySettings("smtp.example.com", 587, "starttls", "reporter", "s3cret",
                                     12.5, "/etc/ssl/relay.pem", False)


def test_relay_settings_defaults() -> None:
    settings = RelaySettings.from_values({"report.relay.host": "localhost"})
    assert settings == RelaySettings("localhost", 25, "none", None, None, 60.0, None, True)
    # TOML number texts as the loader keeps them
    assert RelaySettings.from_values({"report.relay.host": "h", "report.relay.port": "0x1D1",
                                      "report.relay.timeout": "1e2"}) \
        == RelaySettings("h", 465, timeout=100.0)


@pytest.mark.parametrize(("values", "message"), [
    ({}, "no [report.relay] host configured"),
    ({"report.relay.host": ""}, "no [report.relay] host configured"),
    ({"report.relay.port": "25"}, "no [report.relay] host configured"),
    ({"report.relay.host": "h", "report.relay.port": "smtp"}, "report.relay.port"),
    ({"report.relay.host": "h", "report.relay.port": "0"}, "report.relay.port"),
    ({"report.relay.host": "h", "report.relay.port": "70000"}, "report.relay.port"),
    ({"report.relay.host": "h", "report.relay.security": "ssl"}, "report.relay.security"),
    ({"report.relay.host": "h", "report.relay.timeout": "soon"}, "report.relay.timeout"),
    ({"report.relay.host": "h", "report.relay.timeout": "0"}, "report.relay.timeout"),
    ({"report.relay.host": "h", "report.relay.timeout": "inf"}, "report.relay.timeout"),
    ({"report.relay.host": "h", "report.relay.timeout": "nan"}, "report.relay.timeout"),
    ({"report.relay.host": "h", "report.relay.verify": "maybe"}, "report.relay.verify"),
    ({"report.relay.host": "h", "report.relay.username": "u"}, "report.relay.password"),
    ({"report.relay.host": "h", "report.relay.password": "p"}, "report.relay.username"),
])
def test_relay_settings_rejects_bad_values(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        RelaySettings.from_values(values)


# --------------------------------------------------------------------------------------------
# HTTPS server


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpsServer:
    port: int
    requests: list[Request]

    def url(self, path: str) -> str:
        return f"https://{HOST}:{self.port}{path}"


_STATUSES = {"/ok": 200, "/accepted": 202, "/moved": 301, "/missing": 404, "/slow-down": 429,
             "/unavailable": 503, "/timeout": 408, "/teapot": 418, "/server-error": 500}


@contextlib.contextmanager
def running_https_server(context: ssl.SSLContext) -> Iterator[HttpsServer]:
    requests: list[Request] = []
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            requests.append(Request("POST", self.path,
                                    {k.lower(): v for k, v in self.headers.items()}, body))
            if self.path == "/slow":
                release.wait(10)
                status = 200
            elif self.path == "/big":
                self.send_response(200)
                self.send_header("Content-Length", str(10 * 1024 * 1024))
                self.end_headers()
                with contextlib.suppress(OSError):
                    for _ in range(160):
                        self.wfile.write(b"x" * 65536)
                return
            else:
                status = _STATUSES.get(self.path.partition("?")[0], 404)
            self.send_response(status)
            if status == 301:
                self.send_header("Location", "https://elsewhere.example/report")
            answer = b"response body\n"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # TLS handshakes refused by the client land here

    server = Server((HOST, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield HttpsServer(server.server_address[1], requests)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def https_server(pki: Any) -> Iterator[HttpsServer]:
    with running_https_server(pki.server_context) as server:
        yield server


PAYLOAD = compress(b'{"organization-name":"example.com","policies":[]}', 6)


def test_post_delivers_the_payload(https_server: HttpsServer, pki: Any) -> None:
    result = post_report(https_server.url("/ok?key=1"), PAYLOAD, ca_file=pki.ca_file,
                         timeout=10, user_agent="tlsrpt-engine/test")
    assert result == DeliveryResult(DeliveryOutcome.DELIVERED, "HTTP 200 OK")
    [request] = https_server.requests
    assert request.method == "POST"
    assert request.path == "/ok?key=1"
    assert request.headers["content-type"] == CONTENT_TYPE == "application/tlsrpt+gzip"
    assert "content-encoding" not in request.headers
    assert request.headers["user-agent"] == "tlsrpt-engine/test"
    assert request.headers["content-length"] == str(len(PAYLOAD))
    assert request.body == PAYLOAD
    assert gzip.decompress(request.body).startswith(b'{"organization-name"')


@pytest.mark.parametrize(("path", "outcome", "status"), [
    ("/ok", DeliveryOutcome.DELIVERED, 200),
    ("/accepted", DeliveryOutcome.DELIVERED, 202),
    ("/moved", DeliveryOutcome.PERMANENT, 301),
    ("/missing", DeliveryOutcome.PERMANENT, 404),
    ("/teapot", DeliveryOutcome.PERMANENT, 418),
    ("/timeout", DeliveryOutcome.TEMPORARY, 408),
    ("/slow-down", DeliveryOutcome.TEMPORARY, 429),
    ("/server-error", DeliveryOutcome.TEMPORARY, 500),
    ("/unavailable", DeliveryOutcome.TEMPORARY, 503),
])
def test_post_outcome_per_status(https_server: HttpsServer, pki: Any, path: str,
                                 outcome: DeliveryOutcome, status: int) -> None:
    result = post_report(https_server.url(path), PAYLOAD, ca_file=pki.ca_file, timeout=10)
    assert result.outcome is outcome
    assert result.detail.startswith(f"HTTP {status} ")
    assert len(https_server.requests) == 1  # a redirect is not followed


def test_redirect_is_not_followed(https_server: HttpsServer, pki: Any) -> None:
    result = post_report(https_server.url("/moved"), PAYLOAD, ca_file=pki.ca_file, timeout=10)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert "elsewhere.example" in result.detail and "not followed" in result.detail
    assert [r.path for r in https_server.requests] == ["/moved"]


def test_slow_server_times_out(https_server: HttpsServer, pki: Any) -> None:
    result = post_report(https_server.url("/slow"), PAYLOAD, ca_file=pki.ca_file, timeout=0.5)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "timed out" in result.detail


def test_large_response_body_is_not_read_completely(https_server: HttpsServer,
                                                     pki: Any) -> None:
    result = post_report(https_server.url("/big"), PAYLOAD, ca_file=pki.ca_file, timeout=10)
    assert result.outcome is DeliveryOutcome.DELIVERED


def test_certificates_are_verified_by_default(https_server: HttpsServer, pki: Any) -> None:
    untrusted = post_report(https_server.url("/ok"), PAYLOAD, timeout=10)
    assert untrusted.outcome is DeliveryOutcome.TEMPORARY
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    wrong_ca = post_report(https_server.url("/ok"), PAYLOAD, ca_file=pki.other_ca_file,
                           timeout=10)
    assert wrong_ca.outcome is DeliveryOutcome.TEMPORARY
    assert https_server.requests == []

    assert post_report(https_server.url("/ok"), PAYLOAD, ca_file=pki.ca_file,
                       timeout=10).outcome is DeliveryOutcome.DELIVERED
    assert post_report(https_server.url("/ok"), PAYLOAD, verify=False,
                       timeout=10).outcome is DeliveryOutcome.DELIVERED
    assert len(https_server.requests) == 2


def test_host_name_is_verified(tmp_path: Path) -> None:
    # the certificate names 127.0.0.1 and localhost; a certificate for another name fails
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("reports.example.net").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with running_https_server(context) as server:
        result = post_report(server.url("/ok"), PAYLOAD, ca_file=str(tmp_path / "ca.pem"),
                             timeout=10)
        assert result.outcome is DeliveryOutcome.TEMPORARY
        assert server.requests == []


def test_nothing_listening_is_temporary_for_https() -> None:
    result = post_report(f"https://{HOST}:{free_port()}/", PAYLOAD, timeout=5)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert "ConnectionRefusedError" in result.detail


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/report", "mailto:a@example.net", "ftp://127.0.0.1/", "https:///path",
    "https://127.0.0.1:notaport/",
])
def test_only_https_urls(url: str) -> None:
    result = post_report(url, PAYLOAD, timeout=1)
    assert result.outcome is DeliveryOutcome.PERMANENT
    if url.startswith(("http:", "mailto:", "ftp:")):
        assert "only https destinations" in result.detail

