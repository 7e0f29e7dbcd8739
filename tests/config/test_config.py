"""The configuration engine: blocks, registry defaults, typed views, diagnostics, sharing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import engine
from engine.errors import UnknownSettingError
from engine import Frequency
from engine.config.settings import SETTINGS, find

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = 'server.hostname = "mx.example.org"\nreport.domain = "Example.org"\n'


def test_defaults_equal_stalwarts_with_only_hostname_and_domain() -> None:
    config = engine.load_config(BASE)
    settings = config.tls_aggregate("example.net")
    assert settings == engine.TlsAggregateSettings(
        from_name="TLS Aggregate Report", from_address="noreply-tls@example.org",
        org_name="example.org", contact_info=None, send=Frequency.DAILY,
        max_size=26214400, sign=("rsa-example.org", "ed25519-example.org"), fallbacks=())
    assert config.submitter("example.net") == "mx.example.org"


def test_rules_are_tried_in_order_and_captures_flow_into_then() -> None:
    config = engine.load_config(BASE + """
[report.tls.aggregate]
org-name = [
  { if = "matches('^([a-z]+)\\\\.(example|test)$', rcpt_domain)", then = "$1 + ' at ' + $2" },
  { if = "rcpt_domain == 'b.org'", then = "'B'" },
  { else = "'other'" },
]
""")
    assert config.resolve("report.tls.aggregate.org-name", {"rcpt_domain": "shop.test"}) == \
        "shop at test"
    assert config.resolve("report.tls.aggregate.org-name", {"rcpt_domain": "b.org"}) == "B"
    assert config.resolve("report.tls.aggregate.org-name", {"rcpt_domain": "c.org"}) == "other"


def test_explain_names_the_rule_and_its_place() -> None:
    config = engine.load_config(EXAMPLES / "tlsrpt.toml")
    found = config.explain("report.tls.aggregate.send", {"rcpt_domain": "x.test"})
    assert (found.value, found.rule) == (0, 1)
    assert found.origin.endswith("tlsrpt.toml:24:7")
    default = config.explain("report.tls.aggregate.send", {"rcpt_domain": "a.org"})
    assert (default.value, default.rule) == (3, 2)


def test_a_default_is_reported_as_such() -> None:
    found = engine.load_config(BASE).explain("report.submitter")
    assert (found.value, found.origin) == ("mx.example.org", "default")


@pytest.mark.parametrize(("text", "key", "expected_reason", "used"), [
    ('[report.tls.aggregate]\nfrom-name = "5"\n', "from_name",
     "expected a text, got integer 5", "Mail Delivery Subsystem"),
    ('[report.tls.aggregate]\nfrom-name = ""\n', "from_name",
     "the setting has no value", "Mail Delivery Subsystem"),
    ('[report.tls.aggregate]\nsend = "true"\n', "send",
     "expected a frequency (hourly, daily, weekly, never), got integer 1", Frequency.NEVER),
    ('[report.tls.aggregate]\nsend = "\'daily\'"\n', "send",
     "expected a frequency (hourly, daily, weekly, never), got text 'daily'", Frequency.NEVER),
    ('[report.tls.aggregate]\nmax-size = "\'big\'"\n', "max_size",
     "expected a size in bytes, got text 'big'", 26214400),
    ('[report.tls.aggregate]\nsign = "[\'rsa\', 1]"\n', "sign",
     "expected a list of texts, got array ['rsa', 1]", ()),
])
def test_unusable_values_fall_back_and_say_why(text: str, key: str, expected_reason: str,
                                               used: object) -> None:
    settings = engine.load_config(BASE + text).tls_aggregate("example.net")
    assert getattr(settings, key) == used
    assert [f.reason for f in settings.fallbacks] == [expected_reason]


def test_size_and_sign_conversions_follow_stalwart() -> None:
    config = engine.load_config(BASE + """[report.tls.aggregate]
max-size = "'1000'"
sign = "'only-rsa'"
""")
    settings = config.tls_aggregate("a.org")
    assert settings.max_size == 1000
    assert settings.sign == ("only-rsa",)
    negative = engine.load_config(BASE + '[report.tls.aggregate]\nmax-size = -1\n')
    assert negative.tls_aggregate("a.org").max_size == (1 << 64) - 1


def test_sign_is_evaluated_without_a_recipient_domain() -> None:
    config = engine.load_config(BASE + """[report.tls.aggregate]
sign = "if_then(rcpt_domain == '', ['rsa'], ['other'])"
""")
    assert config.tls_aggregate("example.net").sign == ("rsa",)


def test_errors_point_into_the_file_and_are_all_reported() -> None:
    text = BASE + """[report.tls.aggregate]
from-address = "'x@' + mx"
send = "monthly"
max-size = [{ if = "true" }, { else = 1 }]
"""
    with pytest.raises(engine.ConfigError) as caught:
        engine.load_config(text)
    found = [(d.code, d.key, d.span.line, d.span.column) for d in caught.value.diagnostics
             if d.span]
    assert found == [
        ("E202", "report.tls.aggregate.from-address", 4, 24),
        ("E201", "report.tls.aggregate.send", 5, 9),
        ("E301", "report.tls.aggregate.max-size", 6, 1),
    ]


def test_cross_references_do_not_stop_loading() -> None:
    config = engine.load_config(BASE + """[report.tls.aggregate]
sign = "['no-such-signature']"
org-name = "config_get('not.set')"
""")
    assert config.tls_aggregate("a.org").sign == ("no-such-signature",)
    assert config.resolve("report.tls.aggregate.org-name") == ""


def test_config_get_reads_text_as_written_and_folds_at_load() -> None:
    config = engine.load_config(
        'x = "%{env:NOPE_NOT_SET}%"\nreport.submitter = "config_get(\'x\')"\n')
    assert config.resolve("report.submitter") == "%{env:NOPE_NOT_SET}%"
    assert [d.code for d in config.diagnostics] == ["E010"]
    compiled = config.setting("report.submitter")
    assert compiled is not None and compiled.run is not None
    assert "config_get" not in (compiled.run.__doc__ or "")


def test_unknown_keys_resolve_with_every_variable_and_errors_at_resolve() -> None:
    config = engine.load_config('route = "rcpt_domain + mx"\nbad = "1 +"\n')
    assert config.resolve("route", {"rcpt_domain": "a", "mx": "b"}) == "ab"
    # neither registered nor set: an error that says so (a ConfigError and a KeyError)
    for base in (engine.ConfigError, KeyError, UnknownSettingError):
        with pytest.raises(base):
            config.resolve("not.defined")
    with pytest.raises(UnknownSettingError) as unknown:
        config.resolve("rout")
    assert unknown.value.suggestion == "route"
    assert "did you mean route?" in str(unknown.value)
    # registered but not set: its default; set in the file as a block: compiled
    assert config.resolve("report.tls.aggregate.max-size") == 26214400
    block = engine.load_config('x = [{ if = "rcpt_domain == \'a\'", then = "1" }, '
                               '{ else = "2" }]\n')
    assert block.resolve("x", {"rcpt_domain": "a"}) == 1
    with pytest.raises(engine.ConfigError) as caught:
        config.resolve("bad")
    assert caught.value.diagnostics[0].span is not None
    assert caught.value.diagnostics[0].span.line == 2


def test_a_config_is_shared_safely_between_threads() -> None:
    config = engine.load_config(EXAMPLES / "tlsrpt.toml")
    errors: list[BaseException] = []
    expected = {d: config.tls_aggregate(d) for d in ("a.org", "tiny.example", "x.test")}

    def work() -> None:
        try:
            for _ in range(300):
                for domain, settings in expected.items():
                    assert config.tls_aggregate(domain) == settings
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with pytest.raises(TypeError):
        config.values["report.domain"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.file = "other.toml"


def test_registry_lookup_handles_patterns() -> None:
    spec = find("signature.rsa-example.org.private-key")
    assert spec is not None and spec.key == "signature.*.private-key"
    assert find("report.tls.aggregate.nope") is None
    assert {s.key for s in SETTINGS} >= {
        "report.submitter", "report.domain", "server.hostname",
        *(f"report.tls.aggregate.{k}" for k in (
            "from-name", "from-address", "org-name", "contact-info", "send", "max-size",
            "sign"))}


VIEW_CONFIGS = [
    (EXAMPLES / "tlsrpt.toml").read_text(),
    BASE + """[report.tls.aggregate]
from-name = [{ if = "matches('^(\\\\w+)\\\\.', rcpt_domain)", then = "'Reports ' + $1" },
             { else = "5" }]
send = [{ if = "retry_num > 3 || rcpt_domain == 'x.org'", then = "never" },
        { if = "ends_with(rcpt_domain, '.net')", then = "'daily'" }, { else = "weekly" }]
max-size = "if_then(len(rcpt_domain) > 8, len(rcpt_domain) * 1000, -1)"
sign = "split(rcpt_domain, '.')"
org-name = "[rcpt_domain]"
contact-info = "''"
""",
]


@pytest.mark.parametrize("text", VIEW_CONFIGS)
def test_the_compiled_view_equals_setting_by_setting_resolution(text: str) -> None:
    from engine.config.settings import TLS_AGGREGATE_KEYS
    config = engine.load_config(text)
    for domain in ("x.org", "a.net", "tiny.example", "small-shop.example", "bigmail.example",
                   "partner.example", "host.test", "", "b"):
        settings = config.tls_aggregate(domain)
        expected, fallbacks = [], []
        for key in TLS_AGGREGATE_KEYS:
            context = {"rcpt_domain": "" if key.endswith(".sign") else domain}
            value, fallback = config.typed(key, context)
            expected.append(tuple(value) if isinstance(value, list) else value)
            if fallback is not None:
                fallbacks.append(fallback)
        assert tuple(settings[:7]) == tuple(expected), domain
        assert settings.fallbacks == tuple(fallbacks), domain


def test_a_failing_service_call_falls_back_in_the_view() -> None:
    config = engine.load_config(BASE + """[report.tls.aggregate]
org-name = "key_get('orgs', rcpt_domain)"
""")
    settings = config.tls_aggregate("a.org")
    assert settings.org_name is None
    assert [f.key for f in settings.fallbacks] == ["report.tls.aggregate.org-name"]
    assert "needs" in settings.fallbacks[0].reason
