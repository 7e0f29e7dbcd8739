"""Checks over a configuration that return diagnostics, and their renderers."""
