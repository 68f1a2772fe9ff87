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
    q = events.subscribe()
    try:
        sent = events.publish(events.PHOTO_CHANGED, photo_id=7)
        assert q.get_nowait() == sent and sent["type"] == "photo.changed" and sent["photo_id"] == 7
        with pytest.raises(ValueError, match="photo.chnaged"):
            events.publish("photo.chnaged", photo_id=7)
        assert q.empty()
    finally:
        events.unsubscribe(q)
