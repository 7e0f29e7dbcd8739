"""Network servers on 127.0.0.1 for the scheduler tests (send/test_scheduler.py,
send/test_crash.py): an aiosmtpd relay that records every message (and every attempt), and
an HTTPS server with a trustme certificate whose answer per path can be changed while it runs.

(send/test_deliver.py keeps its own copies of similar fixtures, under other names.)
Test dependencies: `aiosmtpd`, `trustme`.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LOCALHOST = "127.0.0.1"


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LocalPki:
    ca_file: str
    server_context: ssl.SSLContext
    other_ca_file: str  # a CA that did not issue the server's certificate


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPki:
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("scheduler-pki")
    ca = trustme.CA()
    certificate = ca.issue_cert(LOCALHOST, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(directory / "other.pem"))
    return LocalPki(str(directory / "ca.pem"), context, str(directory / "other.pem"))


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Message:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class MailRecorder:
    """Refuses recipients starting with `temp` (450) or `perm` (550); answers DATA with
    `data_reply` when set (the content is still recorded in `attempts`); records accepted
    messages in `messages` and every DATA, accepted or not, in `attempts`."""

    data_reply: str | None = None
    messages: list[Message] = field(default_factory=list)
    attempts: list[Message] = field(default_factory=list)
    rcpt_commands: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpt_commands += 1
        if address.startswith("temp"):
            return "450 4.2.1 mailbox busy, try later"
        if address.startswith("perm"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = Message(envelope.mail_from, list(envelope.rcpt_tos),
                          bytes(envelope.original_content))
        self.attempts.append(message)
        if self.data_reply is not None:
            return self.data_reply
        self.messages.append(message)
        return "250 2.0.0 Ok: queued"


@dataclass
class MailServer:
    port: int
    recorder: MailRecorder


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    recorder = MailRecorder()
    port = unused_port()
    controller = controller_module.Controller(recorder, hostname=LOCALHOST, port=port)
    controller.start()
    try:
        yield MailServer(port, recorder)
    finally:
        controller.stop()


# --- HTTPS -----------------------------------------------------------------------------------


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ReportReceiver:
    """An HTTPS server: `status[path]` (path without query) is the answer, 200 when absent;
    every POST is recorded in `posts`."""

    port: int
    posts: list[Posted]
    status: dict[str, int]

    def url(self, path: str) -> str:
        return f"https://{LOCALHOST}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [post.path for post in self.posts]


@contextlib.contextmanager
def _running_receiver(context: ssl.SSLContext) -> Iterator[ReportReceiver]:
    posts: list[Posted] = []
    status: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            posts.append(Posted(self.path, {k.lower(): v for k, v in self.headers.items()},
                                body))
            code = status.get(self.path.partition("?")[0], 200)
            answer = b"thanks\n"
            self.send_response(code)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server((LOCALHOST, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield ReportReceiver(server.server_address[1], posts, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def report_receiver(tls_pki: LocalPki) -> Iterator[ReportReceiver]:
    with _running_receiver(tls_pki.server_context) as receiver:
        yield receiver


@pytest.fixture
def trusting_post(tls_pki: LocalPki) -> Callable[..., Any]:
    """`deliver.post_report` that trusts the test CA (the scheduler's `post_report` hook)."""
    from engine.reporting.send.deliver import post_report

    def post(url: str, payload: bytes, **options: Any) -> Any:
        return post_report(url, payload, **{**options, "ca_file": tls_pki.ca_file})

    return post


@pytest.fixture
def example_keys() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "keys"
