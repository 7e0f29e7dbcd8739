"""tlsrpt-engine: Stalwart-style configuration expressions and SMTP TLS Reporting (RFC 8460)."""

from typing import TYPE_CHECKING, Any

from engine._version import __version__

if TYPE_CHECKING:
    from engine.config.config import Config, TlsAggregateSettings, load_config
    from engine.config.settings import Frequency
    from engine.errors import (ConfigError, Diagnostic, EngineError, EvalError, ParseError,
                               Severity, Span, UnknownSettingError)
    from engine.expr.expression import Expression, compile_expression, evaluate

# The public names are imported on first use (PEP 562): `tlsrpt --help` and every command
# start without loading the parser, the compiler and the configuration engine they do not use.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Config", "TlsAggregateSettings", "load_config"), "engine.config.config"),
    "Frequency": "engine.config.settings",
    **dict.fromkeys(("ConfigError", "Diagnostic", "EngineError", "EvalError", "ParseError",
                     "Severity", "Span", "UnknownSettingError"), "engine.errors"),
    **dict.fromkeys(("Expression", "compile_expression", "evaluate"), "engine.expr.expression"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


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
