"""Diagnostics: the catalogue of codes and the text, JSON, GitHub and SARIF renderers.

A leaf package: configuration errors, lint and the test runner all report through it, and it
imports nothing from the expression, configuration or reporting layers.
"""
