"""Our reports use the field names and shapes that real peers' reports use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.reporting.send.build import build_report
from engine.reporting.model import Event, FailureDetail, Policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; lists by the union of their elements' shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        kinds = set()
        for item in value:
            found = shape(item)
            if isinstance(found, dict):
                merged.update(found)
            else:
                kinds.add(found)
        return [merged] if merged else sorted(kinds)
    return type(value).__name__


def contained(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where our shape has a key or a type the peer's does not."""
    problems = []
    if isinstance(ours, dict):
        for key, item in ours.items():
            if key not in theirs:
                problems.append(f"{path}.{key}: not in the peer's report")
            else:
                problems += contained(item, theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        if ours and theirs and isinstance(ours[0], dict):
            problems += contained(ours[0], theirs[0], f"{path}[]")
    elif ours != theirs:
        problems.append(f"{path}: {ours} where the peer has {theirs}")
    return problems


def test_our_report_has_the_peers_field_names_and_types() -> None:
    peer = shape(json.loads((FIXTURES / "mailauth-rpt01.json").read_text()))
    sts = Policy("sts", ("version: STSv1", "mode: enforce", "mx: mx.example.org",
                         "max_age: 86400"), "example.org", ("mx.example.org",))
    events = [Event(1714953700, "example.org", sts, True),
              Event(1714953800, "example.org", sts, False, (FailureDetail(
                  "validation-failure", sending_mta_ip="198.51.100.1",
                  receiving_mx_hostname="mx.example.org", receiving_mx_helo="mx",
                  receiving_ip="192.0.2.1", additional_information="https://x.example/a",
                  failure_reason_code="X509_V_ERR"),))]
    built = build_report(events, domain="example.org", start=1714953600, end=1715040000,
                         organization_name="Example", contact_info="tls@example.org",
                         max_size=0)
    assert built.json is not None
    ours = shape(json.loads(built.json))
    # receiving-mx-helo is an RFC 8460 field (section 4.3) that the samples happen not to use.
    assert contained(ours, peer) == [
        "$.policies[].failure-details[].receiving-mx-helo: not in the peer's report"]
    assert set(ours) == set(peer)  # the same top-level fields, none missing
