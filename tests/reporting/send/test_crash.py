"""Crash safety of the scheduler (spec/reporting.md 6.4) with real processes.

A real `python -m engine report CONFIG --db DB --now T` delivers one report (a DKIM-signed
mail to the aiosmtpd relay, then an HTTPS POST) and is killed with SIGKILL at a chosen step;
the scheduler's crash-test checkpoint, set by crash_harness.py (see run_once in
engine/reporting/send/scheduler.py), makes it stop and wait there. A second, undisturbed run must then finish the job: no event
lost, every destination reached, and nothing delivered twice -- except the one case spec 6.4
allows: a unit whose delivery succeeded just before the kill, before its result was stored,
is delivered again with the very same bytes (at-least-once).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.reporting.store import ledger
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.send.scheduler import send_at
from tests.reporting.send.crash_harness import PAUSED
from engine.reporting.store.sqlite.events import SqliteEventStore

pytest.importorskip("aiosmtpd")
pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parents[3]
DAY = 86400
T0 = 1_714_953_600
END = T0 + DAY
DOMAIN = "example.org"
REPORT_ID = f"{T0}_{END - 1}_{DOMAIN}"
NOW = send_at(DOMAIN, T0, END, 10800)
STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mail.example.org",
                     "max_age: 604800"), DOMAIN, ("mail.example.org",))
FAILURE = FailureDetail("certificate-expired", sending_mta_ip="198.51.100.1",
                        receiving_mx_hostname="mail.example.org", receiving_ip="192.0.2.25")


def setup(tmp_path: Path, smtp_port: int, https_url: str) -> tuple[Path, Path]:
    key = ROOT / "examples" / "keys" / "rsa.example.org.pem"
    config = tmp_path / "tlsrpt.toml"
    config.write_text(
        '[server]\nhostname = "mta.example.com"\n[report]\ndomain = "example.com"\n'
        '[report.tls.aggregate]\nsend = "daily"\nsign = "[\'rsa-example.com\']"\n'
        f'[report.relay]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout = 10\n'
        f'[signature."rsa-example.com"]\nprivate-key = "%{{file:{key}}}%"\n'
        'domain = "example.com"\nselector = "tls"\nalgorithm = "rsa-sha256"\n',
        encoding="utf-8")
    database = tmp_path / "tlsrpt.db"
    items = [(Event(time=T0 + 10 + index, report_domain=DOMAIN, policy=STS,
                    success=index < 2, failure_details=() if index < 2 else (FAILURE,),
                    destinations=("mailto:tls@example.org", https_url),
                    event_id=f"crash-{index}"), T0, END) for index in range(3)]
    with SqliteEventStore(database) as store:
        assert store.add(items) == 3
    return config, database


def command(config: Path, database: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "report", str(config), "--db", str(database),
            "--now", str(NOW)]


def paused_command(step: str, config: Path, database: Path) -> list[str]:
    """`command`, run by the crash harness: it sleeps (120 s) when the pass reaches `step`."""
    return [sys.executable, "-m", "tests.reporting.send.crash_harness", step, "120",
            *command(config, database)[3:]]


def environment(tls_pki: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["SSL_CERT_FILE"] = tls_pki.ca_file  # the HTTPS unit trusts the test CA
    return env


def run_and_kill_at(step: str, config: Path, database: Path, tls_pki: Any) -> str:
    """Start a pass, wait until it pauses at `step`, SIGKILL it; returns its stderr so far."""
    process = subprocess.Popen(paused_command(step, config, database), cwd=ROOT,
                               env=environment(tls_pki), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if line.strip() == f"{PAUSED} {step}":
                process.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"the pass never reached {step}: {''.join(seen)}")
        process.wait(10)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    return "".join(seen)


def state(database: Path) -> dict[str, Any]:
    with SqliteEventStore(database) as store:
        key = store.ledger.key_row(DOMAIN, T0, END)
        units = store.ledger.units_of(REPORT_ID)
        log = store.connection.execute("SELECT result FROM sent_log WHERE report_id = ?",
                                       (REPORT_ID,)).fetchone()
        return {"events": store.stats()["events"],
                "key": None if key is None else key.state,
                "units": [(unit.kind, unit.status, unit.attempts) for unit in units],
                "sent_log": None if log is None else json.loads(log[0])}


#: step -> (what the killed pass left behind: key state, units; mails and POSTs after the rerun)
CASES = {
    # signed, but the RENDER transaction never committed: nothing stored
    "after-sign": (None, [], 1, 1),
    # rendered and committed, nothing attempted
    "after-render": ("DELIVERING", [("mail", "pending", 0), ("https", "pending", 0)], 1, 1),
    # the mail was accepted by the relay, the kill came before its status was stored: the
    # rerun sends it again (at-least-once, spec 6.4), byte for byte
    "mid-delivery": ("DELIVERING", [("mail", "pending", 0), ("https", "pending", 0)], 2, 1),
    # every unit final, the DONE transaction not started
    "before-delete": ("DELIVERING", [("mail", "delivered", 1), ("https", "delivered", 1)], 1, 1),
}


@pytest.mark.parametrize("step", list(CASES))
def test_killed_pass_is_completed_by_the_next(step: str, tmp_path: Path, mail_server: Any,
                                              report_receiver: Any, tls_pki: Any) -> None:
    config, database = setup(tmp_path, mail_server.port, report_receiver.url("/tlsrpt"))
    key_state, units, mails, posts = CASES[step]

    run_and_kill_at(step, config, database, tls_pki)
    left = state(database)
    assert left["events"] == 3, "no event may be lost by a crash"
    assert left["key"] == key_state
    assert left["units"] == units
    assert left["sent_log"] is None
    delivered_before = len(mail_server.recorder.messages)
    assert delivered_before == (0 if step in ("after-sign", "after-render") else 1)

    rerun = subprocess.run([*command(config, database), "--log-level", "info",
                            "--log-format", "json"], cwd=ROOT, env=environment(tls_pki),
                           capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    logged = [json.loads(line) for line in rerun.stderr.splitlines() if line.startswith("{")]
    [done_event] = [entry for entry in logged if entry["event"] == "report-done"]
    assert (done_event["report"], done_event["outcome"], done_event["delivered"],
            done_event["units"], done_event["events_deleted"]) == (
        REPORT_ID, "delivered", 2, 2, 3)

    done = state(database)
    assert done["events"] == 0 and done["key"] == "DONE" and done["units"] == []
    assert done["sent_log"]["outcome"] == "delivered"
    assert len(mail_server.recorder.messages) == mails
    assert len(report_receiver.posts) == posts
    # every copy is the same signed message, and the report counts every event once
    contents = {message.content for message in mail_server.recorder.messages}
    assert len(contents) == 1
    [content] = contents
    assert content.startswith(b"DKIM-Signature:")
    assert f"Message-ID: <{REPORT_ID}@mta.example.com>".encode() in content
    report = json.loads(gzip.decompress(report_receiver.posts[0].body))
    assert report["report-id"] == REPORT_ID
    assert report["policies"][0]["summary"] == {"total-successful-session-count": 2,
                                                "total-failure-session-count": 1}

    # a third run finds nothing to do
    third = subprocess.run(command(config, database), cwd=ROOT, env=environment(tls_pki),
                           capture_output=True, text=True, timeout=60)
    assert third.returncode == 0 and third.stdout == ""
    assert third.stderr.startswith("0 rendered, 0 held")
    assert len(mail_server.recorder.messages) == mails
    assert len(report_receiver.posts) == posts
