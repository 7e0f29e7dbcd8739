"""Make `tests.*` helper modules importable when `pytest` is run without `python -m` (the
import mode is importlib, which does not put the root folder on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def _private_example_keys() -> None:
    """Git checks files out 0644 whatever their mode was; the example DKIM keys are secrets,
    and lint warns (W015) about a key file that every user can read, so make them 0600 as an
    operator would. Files the tests write themselves are made private by the umask."""
    import os

    for key in (Path(_ROOT) / "examples" / "keys").glob("*.pem"):
        key.chmod(0o600)
    os.umask(0o077)


_private_example_keys()


def _timing_free_hypothesis() -> None:
    """Hypothesis' own timing checks (a per-example deadline, "data generation too slow")
    fail a correct test when the machine is busy; tests assert no wall-clock time, so these
    are off. Example counts stay bounded by each test's own `max_examples`."""
    from hypothesis import HealthCheck, settings

    settings.register_profile("tlsrpt", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("tlsrpt")


_timing_free_hypothesis()


@pytest.fixture(autouse=True)
def _no_found_configuration(monkeypatch: pytest.MonkeyPatch,
                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the machine's configuration: $TLSRPT_CONFIG is unset and the default path
    (/etc/tlsrpt/tlsrpt.toml) moved to a file that does not exist."""
    from engine.cli import discovery

    monkeypatch.delenv(discovery.ENV_VAR, raising=False)
    monkeypatch.setattr(discovery, "DEFAULT_CONFIG",
                        str(tmp_path_factory.getbasetemp() / "absent" / "tlsrpt.toml"))
