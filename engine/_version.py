"""The one place that holds the version of tlsrpt-engine (pyproject.toml reads it through
hatch's version source; `engine.__version__` and `tlsrpt --version` import it)."""

__version__ = "0.1.0"
