"""The destination rules shared by the scheduler and the dry run (send/destinations.py)."""

from __future__ import annotations

from engine.reporting.send.destinations import plan_destinations, skipped_as_all_success


def test_units_keep_order_cap_and_copy() -> None:
    plan = plan_destinations(
        ["https://r.example/1", "mailto:a@x.example", "ftp://f.example", "mailto:a@x.example",
         "mailto:b@blocked.example", "mailto:c@x.example", "https://r.example/1",
         "mailto:late@x.example"],
        max_destinations=7, suppress=["blocked.example"], bcc=["ops@y.example", "a@x.example"])
    assert plan.suppressed == (("mailto:b@blocked.example", "blocked.example"),)
    assert plan.unsupported == ("ftp://f.example",)
    assert plan.recipients == ("a@x.example", "c@x.example")   # late@ is past the cap
    # the mail unit takes the place of the first mailto:, the copy is last, without
    # the addresses that already get the report
    assert plan.units == (("https", "https://r.example/1"),
                          ("mail", '["a@x.example", "c@x.example"]'),
                          ("mail", '["ops@y.example"]'))
    assert plan.addressed == ("a@x.example", "c@x.example")


def test_no_copy_without_a_destination_of_the_domain() -> None:
    plan = plan_destinations(["mailto:a@blocked.example"], max_destinations=10,
                             suppress=["blocked.example"], bcc=["ops@y.example"])
    assert plan.units == () and plan.copies == ()
    https_only = plan_destinations(["https://r.example/1"], max_destinations=10, suppress=[],
                                   bcc=["ops@y.example"])
    assert https_only.addressed == ("ops@y.example",)   # the message is addressed to the copy


def test_send_all_success() -> None:
    assert skipped_as_all_success(False, 0)
    assert not skipped_as_all_success(False, 1) and not skipped_as_all_success(True, 0)
