"""A closed window stays closed: a late observation is counted and dropped, never a second message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.observations import AudioObservation, FrameObservation
from edge_agent.windowing import Windower


def test_late_frame_does_not_reopen_a_published_window():
    w = Windower(10)
    assert w.add_frame(FrameObservation(ts=5.0))
    assert [x.start for x in w.close_before(11.5)] == [0.0]
    assert not w.add_frame(FrameObservation(ts=9.0))  # a slow stage finishing a frame from before the cut
    assert w.late == 1
    assert w.add_chunk(AudioObservation(ts=11.0, duration_s=0.5))  # the next window is still open
    assert [x.start for x in w.close_before(21.5)] == [10.0]
    assert w.close_all() == []


def test_a_window_that_ended_before_the_cut_counts_as_closed_even_if_it_never_opened():
    w = Windower(10)
    w.close_before(25.0)
    assert not w.add_frame(FrameObservation(ts=15.0)) and w.late == 1
    assert w.add_frame(FrameObservation(ts=21.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.booleans()), max_size=60))
def test_each_window_is_closed_at_most_once(events):
    """Any interleaving of observations and cuts: every window start is handed out once."""
    w = Windower(10)
    seen: list[float] = []
    for ts, cut in events:
        if cut:
            seen += [x.start for x in w.close_before(ts)]
        else:
            w.add_frame(FrameObservation(ts=ts))
    seen += [x.start for x in w.close_all()]
    assert len(seen) == len(set(seen))
