"""Typed records of the settings the reporting core reads, built by `Config`.

The registry (settings.py) holds each setting's type, default and bounds; these records only
gather the converted values, so the core never reads a raw text or repeats a clamp.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """The delivery knobs of report.tls.aggregate.* for one report domain: durations in whole
    seconds, every number already within its registered bounds."""

    delay: int
    retry_max_age: int
    send_all_success: bool
    suppress: tuple[str, ...]
    bcc: tuple[str, ...]
    max_destinations: int
    compression_level: int
    unique_id: str | None
    https_timeout: int
    https_verify: bool
    sent_log_retention: int
