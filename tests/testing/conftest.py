"""Shared pieces of the config-test tests: a configuration that uses service functions and
`matches` captures, written into a temporary folder that becomes the working directory (so that
paths in the output are short and stable)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG = """\
[server]
hostname = "mx1.example.org"

[report]
domain = "example.org"

[report.tls.aggregate]
send = [
    { if = "is_local_domain('', rcpt_domain)", then = "never" },
    { if = "key_get('', 'hourly:' + rcpt_domain) == 'yes'", then = "hourly" },
    { if = "contains(dns_query(rcpt_domain, 'txt'), 'weekly')", then = "weekly" },
    { else = "daily" },
]
max-size = [
    { if = "matches('^(small|tiny)[.-]', rcpt_domain)", then = "if_then($1 == 'tiny', 65536, 1048576)" },
    { else = "26214400" },
]
org-name = "'Example Organisation'"
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "tlsrpt.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path
