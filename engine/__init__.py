"""tlsrpt-engine: Stalwart-style configuration expressions and SMTP TLS Reporting (RFC 8460)."""

from engine.errors import (
    ConfigError,
    Diagnostic,
    EngineError,
    EvalError,
    ParseError,
    Severity,
    Span,
    UnknownSettingError,
)
from engine._version import __version__
from engine.config.config import Config, TlsAggregateSettings, load_config
from engine.config.settings import Frequency
from engine.expr.expression import Expression, compile_expression, evaluate

__all__ = [
    "__version__",
    "Config",
    "ConfigError",
    "Diagnostic",
    "EngineError",
    "EvalError",
    "Expression",
    "Frequency",
    "ParseError",
    "Severity",
    "Span",
    "TlsAggregateSettings",
    "UnknownSettingError",
    "compile_expression",
    "evaluate",
    "load_config",
]
