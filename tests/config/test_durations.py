"""Time-span settings take Stalwart's duration syntax and count bare numbers in seconds;
numbers are clamped into the registry's bounds."""

from __future__ import annotations

import pytest

import engine
from engine.config.settings import SETTINGS, ResultType

_TLS = "report.tls.aggregate."


@pytest.mark.parametrize("text, seconds", [
    ('"3h"', 10800), ('"1d"', 86400), ('"90m"', 5400), ("\"'3h'\"", 10800), ("10800", 10800),
    ('"10800"', 10800), ('"500ms"', 1),
])
def test_a_delay_means_what_it_says(text: str, seconds: int) -> None:
    config = engine.load_config(f"[report.tls.aggregate]\ndelay = {text}\n")
    assert config.delivery("example.net").delay == seconds
    assert config.typed(_TLS + "delay", {"rcpt_domain": "example.net"})[0] == seconds


def test_a_duration_word_in_a_rule_is_seconds_too() -> None:
    config = engine.load_config(
        "[report.tls.aggregate]\nretry-max-age = [ { if = \"rcpt_domain == 'a.test'\", "
        "then = \"2h\" }, { else = \"1d\" } ]\n")
    assert config.delivery("a.test").retry_max_age == 7200
    assert config.delivery("b.test").retry_max_age == 86400


def test_numbers_are_clamped_into_the_registered_bounds() -> None:
    config = engine.load_config("[report.tls.aggregate]\ncompression-level = 12\n"
                                "https-timeout = 0\nmax-destinations = -3\n")
    delivery = config.delivery("example.net")
    assert (delivery.compression_level, delivery.https_timeout, delivery.max_destinations) \
        == (9, 1, 0)


def test_every_time_span_of_the_delivery_is_a_duration() -> None:
    spans = {spec.key for spec in SETTINGS if spec.result is ResultType.DURATION}
    assert spans == {_TLS + name for name in
                     ("delay", "retry-max-age", "https-timeout", "sent-log-retention")}
