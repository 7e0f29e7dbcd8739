"""engine.config.macros: %{env:...}%, %{file:...}% and %{cfg:...}% expansion (spec 12.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.load import FlatConfig, load_toml
from engine.config.macros import MAX_MACRO_FILE_BYTES, Expanded, expand_macros
from engine.errors import Severity, Span


def flat(text: str) -> FlatConfig:
    config = load_toml(text, "cfg.toml")
    assert config.diagnostics == ()
    return config


def span_of(config: FlatConfig, snippet: str, occurrence: int = 0) -> Span:
    start = -1
    for _ in range(occurrence + 1):
        start = config.text.index(snippet, start + 1)
    return Span.in_text(config.text, start, start + len(snippet))


def expand(config: FlatConfig, **environ: str) -> Expanded:
    return expand_macros(config, environ)


# -- env ---------------------------------------------------------------------------------------


def test_env_macros_are_replaced_left_to_right() -> None:
    config = flat("a = 'x %{env:HOST}%:%{env:PORT}% %{env:HOST}%'\nb = 'plain'\n")
    result = expand(config, HOST="mx.example.org", PORT="25")
    assert result.values == {"a": "x mx.example.org:25 mx.example.org", "b": "plain"}
    assert result.changed == frozenset({"a"})
    assert result.diagnostics == ()


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_TEST_MACRO", "from-os")
    result = expand_macros(flat("a = '%{env:ENGINE_TEST_MACRO}%'\n"))
    assert result.values == {"a": "from-os"}


def test_missing_env_var_is_replaced_by_nothing() -> None:
    config = flat("[s]\nname = 'a%{env:NOPE}%b'\n")
    result = expand(config)
    assert result.values == {"s.name": "ab"}
    assert result.changed == frozenset({"s.name"})
    (error,) = result.diagnostics
    assert error.code == "E010"
    assert error.severity is Severity.ERROR
    assert '"NOPE"' in error.message
    assert error.key == "s.name"
    assert error.file == "cfg.toml"
    assert error.span == Span(13, 25, 2, 10) == span_of(config, "%{env:NOPE}%")


def test_substituted_text_is_not_rescanned_within_a_pass() -> None:
    result = expand(flat("a = '%{env:A}%'\n"), A="%{env:B}%", B="no")
    assert result.values == {"a": "%{env:B}%"}


def test_later_passes_see_text_substituted_by_earlier_ones() -> None:
    result = expand(flat("a = '%{env:A}%'\nk = 'K'\n"), A="<%{cfg:k}%>")
    assert result.values == {"a": "<K>", "k": "K"}


def test_macro_name_runs_to_the_first_closing_mark() -> None:
    result = expand(flat("a = '%{env:A%{env:B}%}%'\n"), B="b")
    assert result.values == {"a": "}%"}
    (error,) = result.diagnostics
    assert '"A%{env:B"' in error.message


def test_unknown_class_is_left_alone() -> None:
    result = expand(flat("a = '%{foo:x}% %{ENV:X}%'\n"), X="1")
    assert result.values == {"a": "%{foo:x}% %{ENV:X}%"}
    assert result.changed == frozenset()
    assert result.diagnostics == ()


def test_value_without_any_closing_mark_is_left_alone() -> None:
    result = expand(flat("a = '%{env:A'\n"), A="1")
    assert result.values == {"a": "%{env:A"}
    assert result.diagnostics == ()


def test_unterminated_macro_is_reported_and_left_as_is() -> None:
    config = flat("a = '%{env:A}% then %{env:B'\n")
    result = expand(config, A="1")
    assert result.values == {"a": "%{env:A}% then %{env:B"}
    assert result.changed == frozenset()
    (error,) = result.diagnostics
    assert error.code == "E013"
    assert error.severity is Severity.ERROR
    assert error.key == "a"
    assert error.span == span_of(config, "%{env:B")


def test_unterminated_macro_after_a_closing_mark() -> None:
    config = flat("a = '}% %{cfg:a'\n")
    (error,) = expand(config).diagnostics
    assert error.code == "E013"
    assert error.span == Span(8, 15, 1, 9)


# -- file --------------------------------------------------------------------------------------


def test_file_macro_with_absolute_path(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t\n", encoding="utf-8")
    assert str(secret).startswith("/")
    config = flat(f"[db]\npassword = '%{{file://{secret}}}%'\n")
    result = expand_macros(config, {})
    assert result.values == {"db.password": "s3cr3t\n"}
    assert result.changed == frozenset({"db.password"})


def test_file_macro_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "dkim.pem").write_text("PEM", encoding="utf-8")
    config = flat("key = '[%{file:keys/dkim.pem}%]'\n")
    assert expand_macros(config, {}, base_dir=str(tmp_path)).values == {"key": "[PEM]"}


def test_missing_file_leaves_the_whole_value_unexpanded(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A", encoding="utf-8")
    config = flat("v = '%{file:a.txt}% and %{file:missing.txt}%'\n")
    result = expand_macros(config, {}, base_dir=str(tmp_path))
    assert result.values == {"v": "%{file:a.txt}% and %{file:missing.txt}%"}
    assert result.changed == frozenset()
    (error,) = result.diagnostics
    assert error.code == "E011"
    assert error.severity is Severity.ERROR
    assert error.key == "v"
    assert "missing.txt" in error.message
    assert error.span == span_of(config, "%{file:missing.txt}%")


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    result = expand_macros(flat("v = '%{file:latin1.txt}%'\n"), {}, base_dir=str(tmp_path))
    assert result.values == {"v": "%{file:latin1.txt}%"}
    (error,) = result.diagnostics
    assert error.code == "E011"
    assert "UTF-8" in error.message


def test_file_size_is_capped_at_one_mebibyte(tmp_path: Path) -> None:
    assert MAX_MACRO_FILE_BYTES == 1024 * 1024
    (tmp_path / "fits.txt").write_bytes(b"x" * MAX_MACRO_FILE_BYTES)
    (tmp_path / "big.txt").write_bytes(b"x" * (MAX_MACRO_FILE_BYTES + 1))
    config = flat("big = '%{file:big.txt}%'\nfits = '%{file:fits.txt}%'\n")
    result = expand_macros(config, {}, base_dir=str(tmp_path))
    assert result.values["fits"] == "x" * MAX_MACRO_FILE_BYTES
    assert result.values["big"] == "%{file:big.txt}%"
    (error,) = result.diagnostics
    assert (error.code, error.key) == ("E011", "big")
    assert "larger than" in error.message


def test_file_content_is_not_rescanned(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("%{file:f.txt}%", encoding="utf-8")
    result = expand_macros(flat("v = '%{file:f.txt}%'\n"), {}, base_dir=str(tmp_path))
    assert result.values == {"v": "%{file:f.txt}%"}
    assert result.changed == frozenset({"v"})


# -- cfg ---------------------------------------------------------------------------------------


def test_cfg_macro_reads_another_setting() -> None:
    config = flat(
        "[server]\nhostname = 'mx.example.org'\n"
        "[report]\nfrom = 'noreply@%{cfg:server.hostname}%'\n"
    )
    assert expand(config).values["report.from"] == "noreply@mx.example.org"


def test_cfg_sees_earlier_keys_expanded_and_later_keys_unexpanded() -> None:
    forwards = expand(flat("a = 'A'\nb = '%{cfg:a}%-b'\nc = '%{cfg:b}%-c'\n"))
    assert forwards.values == {"a": "A", "b": "A-b", "c": "A-b-c"}
    backwards = expand(flat("a = '%{cfg:b}%'\nb = '%{cfg:c}%'\nc = 'C'\n"))
    assert backwards.values == {"a": "%{cfg:c}%", "b": "C", "c": "C"}


def test_cfg_sees_env_expansion_of_any_key() -> None:
    result = expand(flat("a = '%{cfg:z}%'\nz = '%{env:Z}%'\n"), Z="zed")
    assert result.values == {"a": "zed", "z": "zed"}


def test_cfg_reads_numbers_as_written() -> None:
    assert expand(flat("a = '%{cfg:n}%'\nn = 1e3\n")).values["a"] == "1e3"


def test_unknown_cfg_key_is_replaced_by_nothing() -> None:
    config = flat("a = '<%{cfg:nope}%>'\n")
    result = expand(config)
    assert result.values == {"a": "<>"}
    (error,) = result.diagnostics
    assert error.code == "E012"
    assert error.severity is Severity.ERROR
    assert '"nope"' in error.message
    assert (error.key, error.span) == ("a", Span(6, 18, 1, 7))


# -- where diagnostics point -------------------------------------------------------------------


def test_positions_survive_earlier_passes() -> None:
    config = flat("[x]\nv = '%{env:LONG_VALUE}% %{cfg:missing}%'\n")
    result = expand(config, LONG_VALUE="a much longer replacement text")
    (error,) = result.diagnostics
    assert error.code == "E012"
    assert error.span == span_of(config, "%{cfg:missing}%") == Span(28, 43, 2, 25)


def test_macro_built_from_substituted_text_points_at_its_source() -> None:
    config = flat("v = 'x%{cfg:%{env:K}%}%'\n")
    result = expand(config, K="unknown.key")
    (error,) = result.diagnostics
    assert error.code == "E012"
    assert '"unknown.key"' in error.message
    assert error.span == span_of(config, "%{cfg:%{env:K}%}%")


def test_value_with_escapes_points_at_the_value() -> None:
    config = flat('a = "\\t%{env:NOPE}%"\n')
    (error,) = expand(config).diagnostics
    assert error.span == config.origins["a"].value_span == Span(4, 20, 1, 5)


def test_macro_in_multiline_literal_string() -> None:
    config = flat("a = '''\nline\n  %{env:NOPE}%'''\n")
    (error,) = expand(config).diagnostics
    assert error.span == Span(15, 27, 3, 3)


def test_macro_inside_an_array_and_inline_table() -> None:
    config = flat("r = [ { if = '%{env:A}%', then = 'x' }, '%{env:B}%' ]\n")
    result = expand(config, A="true")
    assert result.values == {"r.0000.if": "true", "r.0000.then": "x", "r.0001": ""}
    (error,) = result.diagnostics
    assert (error.key, error.span) == ("r.0001", span_of(config, "%{env:B}%"))


def test_key_order_and_input_are_preserved() -> None:
    config = flat("b = '%{env:X}%'\na = 'y'\n")
    result = expand(config, X="x")
    assert list(result.values) == ["a", "b"]
    assert config.values == {"a": "y", "b": "%{env:X}%"}
