"""Item: macro expansion is bounded per value and in total; macro reads of FIFOs, devices and
oversize files are refused; a secret file that every user can read is a warning.

Before: a `%{cfg:}%` doubling chain, 10^5 `%{env:}%` macros or a file including itself took
4-8 GB and lint said "no problems found"; a `%{file:}%` FIFO blocked lint forever.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.config.macros import MAX_EXPANDED_TOTAL_CHARS, MAX_EXPANDED_VALUE_CHARS
from engine.lint.check import lint_file, lint_text
from tests.hostile.bounds import in_child, traced


def codes(diagnostics: list) -> list[str]:  # type: ignore[type-arg]
    return [d.code for d in diagnostics]


def test_a_cfg_doubling_chain_stops_at_the_value_bound() -> None:
    lines = ["[chain]", 'a01 = "' + "x" * 64 + '"']
    for link in range(2, 41):  # 64 x 2^39 characters if nothing stopped it
        lines.append(f'a{link:02d} = "%{{cfg:chain.a{link - 1:02d}}}%%{{cfg:chain.a{link - 1:02d}}}%"')
    text = "\n".join(lines) + "\n"
    found = traced("cfg doubling chain, 40 links", lambda: lint_text(text, "chain.toml"),
                   peak_mib=64)
    too_large = [d for d in found if d.code == "E014"]
    assert too_large, codes(found)
    # a15 holds 64 x 2^14 = 1 MiB exactly: a16 is the first link past the bound, and the
    # later links see a16 unexpanded (34 characters), so they restart small and pass the
    # bound again 15 links later
    assert [d.key for d in too_large] == ["chain.a16", "chain.a31"]
    first = too_large[0]
    assert first.key == "chain.a16" and first.span is not None
    assert (first.span.line, first.span.column) == (17, 8)
    assert str(MAX_EXPANDED_VALUE_CHARS) in first.message


def test_a_hundred_thousand_env_macros_stop_at_the_total_bound() -> None:
    environ = {"BIG": "y" * 200}
    macros = "%{env:BIG}%" * 100  # 20 KB per value: under the value bound
    text = "[many]\n" + "".join(f'v{i:04d} = "{macros}"\n' for i in range(1000))  # 10^5 macros
    found = traced("10^5 env macros of 200 B (20 MB in all)", lambda: lint_text(text, "env.toml", environ),
                   peak_mib=200)
    total = [d for d in found if d.code == "E014"]
    assert len(total) == 1  # once, not once per value
    assert all(str(MAX_EXPANDED_TOTAL_CHARS) in d.message for d in total)
    # and the next configuration is expanded as usual
    assert codes(lint_text('[a]\nb = "%{env:BIG}%"\n', "next.toml", environ)) == []


def test_a_file_that_includes_itself(tmp_path: Path) -> None:
    path = tmp_path / "self.toml"
    body = "".join(f'k{i:04d} = "%{{file:self.toml}}%%{{file:self.toml}}%"\n' for i in range(2000))
    path.write_text("[loop]\n" + body)
    found, _ = traced("a 110 KB file including itself 4,000 times",
                      lambda: lint_file(path), peak_mib=200)
    assert "E014" in codes(found)


def test_a_fifo_in_a_file_macro_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    config = tmp_path / "tlsrpt.toml"
    config.write_text('[report.tls.aggregate]\norg-name = "%{file:pipe}%"\n'
                      'contact-info = "%{file:/dev/zero}%"\n')
    run = in_child("lint with %{file:}% of a FIFO and /dev/zero", ["lint", str(config)])
    assert run.status == 1
    assert run.out.count("E011") == 2
    assert "not a regular file" in run.out


def test_a_world_readable_key_file_is_a_warning(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("secret\n")
    key.chmod(0o644)
    config = tmp_path / "tlsrpt.toml"
    config.write_text('[signature.rsa]\nprivate-key = "%{file:key.pem}%"\n')
    found, _ = lint_file(config)
    warned = [d for d in found if d.code == "W015"]
    assert len(warned) == 1 and warned[0].severity.value == "warning"
    assert warned[0].span is not None and (warned[0].span.line, warned[0].span.column) == (2, 16)
    key.chmod(0o600)
    assert "W015" not in codes(lint_file(config)[0])
