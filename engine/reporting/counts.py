"""What a report is built from: the counters of one report key (spec/reporting.md 3.4-3.7).

A report does not need its events, only, per policy key, the session counts and the count of
each failure key, in first-seen order, and the union of the destinations. `WindowTally`
accumulates exactly that from events (in acceptance order) and is shared by the two places
that count: `build_report` for a list of events, and the event store, which keeps these
counters instead of one row per event (spec 6.6). Both therefore give the same report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.reporting.model import Event, FailureDetail, Policy


@dataclass(frozen=True, slots=True)
class PolicyCounts:
    """One `policies[]` entry: its counts and its failure keys in first-occurrence order
    (the order of spec 3.7 before sorting by count)."""

    policy: Policy
    successes: int
    failures: int
    details: tuple[tuple[FailureDetail, int], ...]


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """The counters of one report key: policies in order of their first event; destinations
    in first-seen order, or None when no event carried any (spec 3.5, 6.1)."""

    policies: tuple[PolicyCounts, ...]
    destinations: tuple[str, ...] | None

    @property
    def events(self) -> int:
        return sum(entry.successes + entry.failures for entry in self.policies)

    @property
    def failures(self) -> int:
        return sum(entry.failures for entry in self.policies)


@dataclass(slots=True)
class PolicyTally:
    """Mutable counts of one policy key; `first_seq` is the sequence number of its first
    event, `details` maps a failure key to [count, first seq, index in that event's list]."""

    first_seq: int
    successes: int = 0
    failures: int = 0
    details: dict[FailureDetail, list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class WindowTally:
    """Counters of one report key while events are added (in acceptance order)."""

    events: int = 0
    last_seq: int = 0
    carried_destinations: bool = False
    policies: dict[Policy, PolicyTally] = field(default_factory=dict)
    destinations: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The last policy object counted and its entry: a domain's events usually share one
    # policy object (intake memoises it), and `is` is much cheaper than hashing it again.
    _last: tuple[Policy | None, PolicyTally | None] = field(
        default=(None, None), init=False, repr=False, compare=False)
    _last_destinations: tuple[str, ...] | None = field(
        default=None, init=False, repr=False, compare=False)

    def add(self, event: Event, seq: int) -> None:
        """Count `event`, accepted with sequence number `seq` (larger than any before)."""
        self.events += 1
        self.last_seq = seq
        policy = event.policy
        last, entry = self._last
        if policy is not last or entry is None:
            entry = self.policies.get(policy)
            if entry is None:
                entry = self.policies[policy] = PolicyTally(seq)
            self._last = (policy, entry)
        if event.success:
            entry.successes += 1  # details on a success are never counted (3.1)
        else:
            entry.failures += 1
            details = entry.details
            for index, detail in enumerate(event.failure_details):
                found = details.get(detail)
                if found is None:
                    details[detail] = [1, seq, index]
                else:
                    found[0] += 1
        destinations = event.destinations
        if destinations is not None and destinations is not self._last_destinations:
            # a repeated tuple object adds nothing new (intake memoises these too)
            self._last_destinations = destinations
            self.carried_destinations = True
            for index, uri in enumerate(destinations):
                if uri not in self.destinations:
                    self.destinations[uri] = (seq, index)

    def counts(self) -> WindowCounts:
        # dicts keep insertion order, which is first-seen order here
        return WindowCounts(
            policies=tuple(PolicyCounts(policy, entry.successes, entry.failures,
                                        tuple((detail, found[0])
                                              for detail, found in entry.details.items()))
                           for policy, entry in self.policies.items()),
            destinations=tuple(self.destinations) if self.carried_destinations else None)


def count_events(events: Iterable[Event]) -> WindowCounts:
    """The counters of `events`, taken in the given (acceptance) order."""
    tally = WindowTally()
    for seq, event in enumerate(events, start=1):
        tally.add(event, seq)
    return tally.counts()
