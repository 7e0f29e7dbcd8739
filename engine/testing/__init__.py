"""Config-author test files (`*.tlsrpt-test.toml`): read them (cases.py), run them (run.py),
report failures (render.py), and a pytest plugin that collects them (pytest_plugin.py).
The format is documented in docs/testing.md."""
