"""Every public error roots in engine.errors.EngineError and keeps the builtin base that
callers already catch."""

from __future__ import annotations

import pytest

from engine.config.signatures import SignatureKeyError
from engine.config.stalwart_toml import StalwartReadError
from engine.errors import EngineError
from engine.expr.regex import RegexSyntaxError
from engine.reporting.analysis.limits import Rejected
from engine.reporting.intake.collector import CollectorError
from engine.reporting.intake.datagram import DatagramError
from engine.reporting.intake.normalise import EventError
from engine.reporting.sign import SigningError


@pytest.mark.parametrize("error, builtin", [
    (SignatureKeyError, ValueError), (StalwartReadError, ValueError),
    (RegexSyntaxError, ValueError), (Rejected, Exception), (CollectorError, OSError),
    (DatagramError, ValueError), (EventError, ValueError), (SigningError, Exception),
])
def test_public_errors_root_in_engine_error(error: type[Exception],
                                            builtin: type[Exception]) -> None:
    assert issubclass(error, EngineError) and issubclass(error, builtin)
