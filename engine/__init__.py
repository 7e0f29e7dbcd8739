"""tlsrpt-engine: Stalwart-style configuration expressions and SMTP TLS Reporting (RFC 8460)."""

from engine.errors import (
    ConfigError,
    Diagnostic,
    EngineError,
    EvalError,
    ParseError,
    Severity,
    Span,
)
from engine.config.config import Config, TlsAggregateSettings, load_config
from engine.config.settings import Frequency
from engine.expr.expression import Expression, compile_expression, evaluate

__all__ = [
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
    "compile_expression",
    "evaluate",
    "load_config",
]
__version__ = "0.1.0"
