"""The activities client's pacing (activities/pace.py, issue 21): a token bucket of capacity one,
start to start, with a deadline on every wait. Pure: a fake clock."""

from __future__ import annotations

import random

import pytest

from usermap.activities.pace import TokenBucket
from usermap.errors import SourceError


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        assert s > 0
        self.slept.append(s)
        self.now += s


def _bucket(clock, per_second=5.0, slack=0.0):
    return TokenBucket(per_second, clock=clock, sleep=clock.sleep, slack=slack)


def test_a_slow_answer_does_not_add_to_the_spacing():
    # start to start: a request that took longer than the interval leaves no wait at all
    c = Clock()
    b = _bucket(c)
    starts = []
    for took in (0.5, 0.5, 0.05, 0.05, 0.05):
        starts.append(b.take())
        c.now += took                    # the request's own time
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.2, 1.4])


def test_senders_together_share_one_rate():
    # four ends asking at the same instant get consecutive slots, not four at once
    c = Clock()
    b = _bucket(c, slack=0.05)
    slots = []
    for _ in range(4):
        slots.append(b.take())
    assert slots == pytest.approx([0.0, 0.21, 0.42, 0.63])


def test_no_burst_after_an_idle_spell():
    c = Clock()
    b = _bucket(c)
    b.take()
    c.now = 10.0
    assert b.take() == 10.0 and b.take() == pytest.approx(10.2)


@pytest.mark.parametrize("seed", range(5))
def test_a_rolling_second_never_holds_more_than_the_rate(seed):
    rng = random.Random(seed)
    c = Clock()
    b = _bucket(c, per_second=5.0)
    starts = []
    for _ in range(300):
        starts.append(b.take())
        c.now += rng.choice((0.0, 0.0, 0.01, 0.1, 0.3, 0.9, 2.0)) * rng.random()
    for i, t in enumerate(starts):
        assert sum(1 for u in starts[i:] if u < t + 1.0 - 1e-9) <= 5


def test_a_token_past_the_deadline_is_refused_not_slept_for():
    c = Clock()
    b = _bucket(c, per_second=1.0)
    b.take(deadline=5.0)
    b.take(deadline=5.0)                 # slot 1.0
    with pytest.raises(SourceError, match="time budget"):
        b.take(deadline=1.5, what="HubSpot calls search")  # slot 2.0 > 1.5
    assert c.slept == [1.0]              # nothing slept for the refused one
    assert b.take(deadline=5.0) == 2.0   # and it booked nothing


def test_widen_after_a_429_is_bounded():
    b = _bucket(Clock(), per_second=5.0, slack=0.05)
    for _ in range(50):
        b.widen()
    assert b.interval == pytest.approx(0.25)


def test_a_widening_settles_back_after_clean_tokens():
    c = Clock()
    b = _bucket(c, per_second=5.0, slack=0.05)
    b.widen()
    b.widen()
    assert b.interval == pytest.approx(0.21 * 1.05 ** 2)
    for _ in range(TokenBucket.SETTLE):
        b.take()
    assert b.interval == pytest.approx(0.21 * 1.05)
    for _ in range(5 * TokenBucket.SETTLE):
        b.take()
    assert b.interval == pytest.approx(0.21)


class LateClock(Clock):
    """A sleep that wakes ``late`` seconds after it was asked to (a loaded machine)."""

    def __init__(self, late):
        super().__init__()
        self.late = list(late)

    def sleep(self, s: float) -> None:
        super().sleep(s + (self.late.pop(0) if self.late else 0.0))


def test_a_late_wake_up_moves_the_next_sends_so_a_window_never_packs():
    # the second send wakes 0.15 s late: the ones after it keep their spacing from it, and any
    # five in a row still span five intervals
    c = LateClock([0.15])
    b = _bucket(c, per_second=5.0, slack=0.05)
    sent = [b.take() for _ in range(12)]
    assert sent[1] == pytest.approx(0.36) and sent[2] == pytest.approx(0.57)
    assert all(sent[i + 5] - sent[i] >= 5 * 0.21 - 1e-9 for i in range(len(sent) - 5))


def test_the_ten_second_window_is_kept_on_sends():
    c = LateClock([0.0] * 3 + [2.0])
    b = TokenBucket(19.0, clock=c, sleep=c.sleep, slack=0.02, window_seconds=10.0)
    sent = [b.take() for _ in range(400)]
    assert all(sent[i + 190] - sent[i] >= 190 * 1.02 / 19 - 1e-9 for i in range(len(sent) - 190))
