"""Analysis speed: parsing and summarising 10,000 incoming reports (spec/reporting.md 7).

The inputs are 10,000 gzip report files as senders attach them, made by our own reporting core
(`build_report` + `compress`): 40 sending organisations, 500 policy domains, 30 days, one
report in four with failures (two result types, with MX host and IPs), each with an sts and a
tlsa policy. Three benchmarks in one group, on the same inputs in the same run:

* reference: `json.loads(gzip.decompress(data))` per input, no validation at all: the floor
  any Python analyser pays;
* parse: `analyze_bytes` per input (magic bytes, bounded streaming gunzip with CRC check,
  pre-scan of the JSON, strict parse, validation with paths, normalised records);
* parse + summarise: the same, then `summarise(..., "domain")` over the 10,000 reports.

The figure is the ratio to the reference (machines differ, ratios much less), with the
absolute reports/s beside it. Nothing asserts on time; each benchmark first checks that the
three agree on the number of reports and failed sessions.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.reporting.analysis.analyze import analyze_bytes
from engine.reporting.analysis.summary import summarise
from engine.reporting.send.build import build_report
from engine.reporting.send.message import compress
from engine.reporting.model import Event, FailureDetail, Policy

REPORTS = 10_000
ORGANISATIONS = 40
DOMAINS = 500
DAY = 86_400
T0 = 1_714_953_600  # 2024-05-06T00:00:00Z
GROUP = "analysis-10k"


def make_inputs() -> tuple[list[bytes], int]:
    """(gzip inputs, their total failed sessions)."""
    inputs: list[bytes] = []
    failures = 0
    for number in range(REPORTS):
        domain = f"d{number % DOMAINS}.example"
        mx = f"mx.{domain}"
        start = T0 + (number // DOMAINS % 30) * DAY
        sts = Policy("sts", ("version: STSv1", "mode: enforce", f"mx: {mx}", "max_age: 604800"),
                     domain, (mx,))
        tlsa = Policy("tlsa", ("3 1 1 0123456789ABCDEF",), mx, ())
        events = [Event(start + i, domain, sts, True) for i in range(5)]
        events.append(Event(start + 10, domain, tlsa, True))
        if number % 4 == 0:
            expired = FailureDetail("certificate-expired", sending_mta_ip="192.0.2.25",
                                    receiving_mx_hostname=mx,
                                    receiving_ip=f"198.51.100.{number % 250}")
            dane = FailureDetail("tlsa-invalid", receiving_mx_hostname=mx,
                                 receiving_ip=f"2001:db8::{number % 250:x}")
            events += [Event(start + 20, domain, sts, False, (expired,)),
                       Event(start + 21, domain, tlsa, False, (dane,))]
            failures += 2
        built = build_report(events, domain=domain, start=start, end=start + DAY,
                             organization_name=f"Sender {number % ORGANISATIONS}",
                             contact_info=f"tlsrpt@sender{number % ORGANISATIONS}.example",
                             max_size=0)
        assert built.json is not None
        inputs.append(compress(built.json, 6))
    return inputs, failures


@pytest.fixture(scope="module")
def corpus() -> tuple[list[bytes], int]:
    return make_inputs()


@pytest.fixture(scope="module")
def rates() -> dict[str, float]:
    """reports/s per variant, shared by the benchmarks of this module (run in file order)."""
    return {}


def reference(inputs: list[bytes]) -> int:
    failed = 0
    for data in inputs:
        report = json.loads(gzip.decompress(data))
        failed += sum(policy["summary"]["total-failure-session-count"]
                      for policy in report["policies"])
    return failed


def parse(inputs: list[bytes]) -> int:
    failed = 0
    for data in inputs:
        report = analyze_bytes(data).report
        assert report is not None
        failed += report.failures
    return failed


def parse_and_summarise(inputs: list[bytes]) -> int:
    reports = []
    for data in inputs:
        report = analyze_bytes(data).report
        assert report is not None
        reports.append(report)
    return sum(group.failures for group in summarise(reports, "domain"))


def run(benchmark: Any, capsys: pytest.CaptureFixture[str], rates: dict[str, float],
        corpus: tuple[list[bytes], int], name: str, function: Callable[[list[bytes]], int]
        ) -> None:
    inputs, failures = corpus
    assert function(inputs) == failures  # the three agree before anything is timed
    benchmark.group = GROUP
    result = benchmark.pedantic(function, args=(inputs,), rounds=3, iterations=1,
                                warmup_rounds=0)
    assert result == failures
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None:  # --benchmark-disable: nothing was timed
        return
    rate = REPORTS / stats.median
    rates[name] = rate
    benchmark.extra_info.update({"reports": REPORTS, "reports_per_second": round(rate)})
    line = f"\n{name}: {REPORTS:,} reports, median {stats.median:.3f} s -> {rate:,.0f} reports/s"
    if name != "reference" and "reference" in rates:
        ratio = rates["reference"] / rate
        benchmark.extra_info["time_vs_reference"] = round(ratio, 2)
        line += f" = {ratio:.2f}x the time of json.loads + gzip.decompress"
    with capsys.disabled():  # printed so that -q runs show the figures too
        print(line)


def test_reference_json_loads_gzip_decompress(benchmark: Any, corpus: Any, rates: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run(benchmark, capsys, rates, corpus, "reference", reference)


def test_parse(benchmark: Any, corpus: Any, rates: Any,
               capsys: pytest.CaptureFixture[str]) -> None:
    run(benchmark, capsys, rates, corpus, "parse", parse)


def test_parse_and_summarise(benchmark: Any, corpus: Any, rates: Any,
                             capsys: pytest.CaptureFixture[str]) -> None:
    run(benchmark, capsys, rates, corpus, "parse + summarise", parse_and_summarise)
