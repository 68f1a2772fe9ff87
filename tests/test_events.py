"""Signals (in-process receivers) and published events (what phones get over /ws)."""

from __future__ import annotations

import logging

import pytest

from jaicat import events


def test_signal_calls_receivers_in_order_once_each_and_contains_a_failure(caplog):
    signal = events.Signal("tested")
    calls = []

    def first(x, y=None):
        calls.append(("first", x, y))

    def broken(x, y=None):
        raise RuntimeError("boom")

    def last(x, y=None):
        calls.append(("last", x, y))

    for receiver in (first, broken, last, first):  # a second connect of `first` keeps one
        signal.connect(receiver)
    with caplog.at_level(logging.ERROR, logger="jaicat.events"):
        signal.send(1, y=2)
    assert calls == [("first", 1, 2), ("last", 1, 2)]
    assert [r.message for r in caplog.records if "tested receiver" in r.message and "broken" in r.message]
    signal.disconnect(first)
    signal.disconnect(first)  # not connected: nothing happens
    calls.clear()
    signal.send(3)
    assert calls == [("last", 3, None)]


def test_bound_methods_disconnect_like_the_functions_they_are():
    class Receiver:
        def __init__(self):
            self.got = []

        def on(self, value):
            self.got.append(value)

    signal = events.Signal("tested")
    a, b = Receiver(), Receiver()
    signal.connect(a.on)
    signal.connect(b.on)
    signal.disconnect(a.on)
    signal.send("x")
    assert (a.got, b.got) == ([], ["x"])


def test_published_events_reach_every_subscriber_and_unknown_names_fail_loudly():
    hub = events.Hub()
    q = hub.subscribe()
    try:
        sent = events.publish(events.PHOTO_CHANGED, photo_id=7)
        assert q.get_nowait() == sent and sent["type"] == "photo.changed" and sent["photo_id"] == 7
        with pytest.raises(ValueError, match="photo.chnaged"):
            events.publish("photo.chnaged", photo_id=7)
        assert q.empty()
    finally:
        hub.unsubscribe(q)


def test_each_hub_has_its_own_subscribers_and_listens_only_while_it_has_one():
    a, b = events.Hub(), events.Hub()
    qa, qb = a.subscribe(), b.subscribe()
    try:
        sent = events.publish(events.JOB_PROGRESS, job_id=1)
        assert qa.get_nowait() == sent and qb.get_nowait() == sent
        b.unsubscribe(qb)
        assert b._deliver not in events.published._receivers  # an idle hub is not connected
        events.publish(events.JOB_PROGRESS, job_id=2)
        assert qa.get_nowait()["job_id"] == 2 and qb.empty()
    finally:
        a.unsubscribe(qa)
        b.unsubscribe(qb)
    full = events.Hub()
    q = full.subscribe(maxsize=2)
    try:
        for i in range(5):  # a stalled listener keeps the newest events, the sender never blocks
            events.publish(events.JOB_PROGRESS, job_id=i)
        assert [q.get_nowait()["job_id"] for _ in range(2)] == [3, 4]
    finally:
        full.unsubscribe(q)
