"""common.traffic.day_fleet: the day's demand and three fleets, on days whose answers are worked out by hand.

Windows of 60 s, one replica holds C = 100 units/s; the reactive autoscaler asks for ceil(demand / 80) replicas, a
new one serves 120 s after it is asked for, and spare ones stop after 600 s of slack."""

import numpy as np
import pytest

from common.traffic.day_fleet import (
    DAY_S,
    DayProfile,
    Demand,
    Reactive,
    day_demand,
    foresight_fleet,
    reactive_fleet,
    static_fleet,
)

C = 100.0
R = Reactive(scale_up_at=0.8, start_s=120.0, scale_down_after_s=600.0, min_replicas=1)
N = int(DAY_S // 60)  # 1,440 windows of a minute


def _day(work: np.ndarray, requests: float = 60.0) -> Demand:
    return Demand(np.arange(N) * 60.0, np.full(N, 60.0), np.asarray(work, dtype=float), np.full(N, requests))


def test_a_step_up_at_noon_costs_the_reactive_fleet_three_minutes_over_the_slo():
    """60 units/s until noon, 200 after: static and foresight need 2, the reactive fleet wants ceil(200 / 80) = 3.
    Noon's window finds 1 replica serving: over. At its end the autoscaler asks for 2 more; they serve from 12:03,
    so 12:00, 12:01 and 12:02 are over the SLO. At midnight demand falls: 10 minutes of slack, then back to 1."""
    d = _day(np.where(np.arange(N) < 720, 60.0, 200.0))
    s, f, r = static_fleet(d, C), foresight_fleet(d, C, step_s=60), reactive_fleet(d, C, R)
    assert s.peak == 2 and s.replica_hours == 48 and s.minutes_over_slo == 0
    assert f.minutes_over_slo == 0 and f.live[719] == 1 and f.billed[719] == 2  # started a step ahead
    assert f.replica_hours == pytest.approx((719 * 1 + 721 * 2) / 60)
    assert r.minutes_over_slo == 3 and r.requests_over_slo == 180
    assert list(r.live[719:724]) == [1, 1, 1, 1, 3] and list(r.billed[719:724]) == [1, 1, 3, 3, 3]
    assert list(r.live[:11]) == [3] * 10 + [1]  # the night before left 3: 600 s of slack, then 1
    assert r.replica_hours == pytest.approx((10 * 3 + 710 * 1 + 1 * 1 + 719 * 3) / 60)


def test_a_spike_shorter_than_a_replicas_start_is_over_the_slo_and_pays_for_replicas_that_come_too_late():
    """One minute at 250 units/s at noon, 60 elsewhere: the spike is over the SLO whatever the reactive fleet does
    (its replicas, asked for at 12:01, serve from 12:03), and it pays for 3 spare replicas until 10 minutes of slack
    have passed. Static runs 3 all day; foresight runs 3 for the spike and the step before it."""
    work = np.full(N, 60.0)
    work[720] = 250.0
    d = _day(work)
    s, f, r = static_fleet(d, C), foresight_fleet(d, C, step_s=60), reactive_fleet(d, C, R)
    assert s.peak == 3 and s.minutes_over_slo == 0
    assert f.minutes_over_slo == 0 and f.replica_hours == pytest.approx((1438 + 2 * 3) / 60)
    assert r.minutes_over_slo == 1 and r.requests_over_slo == 60
    assert r.billed[721] == 4 and r.live[721] == 1 and r.live[723] == 4 and r.live[733] == 1
    assert r.replica_hours == pytest.approx((1440 + 12 * 3) / 60)  # 3 spare replicas, 12 minutes paid


def test_a_slow_ramp_keeps_the_reactive_fleet_within_the_slo():
    """From 0 to 400 units/s over the day: the 20 % headroom of scale-up-at 0.8 covers the two minutes a replica
    takes to start, so no window is over the SLO; static runs the peak's 4 all day."""
    d = _day(np.linspace(0.0, 400.0, N))
    s, r = static_fleet(d, C), reactive_fleet(d, C, R)
    assert s.peak == 4 and r.minutes_over_slo == 0 and r.replica_hours < s.replica_hours


def test_the_day_is_the_stretch_laid_end_to_end_scaled_by_the_profile_over_its_peak(tmp_path):
    """A 20-minute stretch of 2 windows (10 min each) over a day whose rate is 1 from 00:00 and 4 from 12:00: the
    morning's windows carry growth x work / 4, the afternoon's growth x work."""
    p = tmp_path / "day.csv"
    p.write_text("time,rate\n00:00,1\n12:00,4\n")
    windows = [
        {"start_s": 600.0, "end_s": 1200.0, "work_per_s": 10.0, "requests": 30},
        {"start_s": 1200.0, "end_s": 1800.0, "work_per_s": 30.0, "requests": 90},
    ]
    d = day_demand(windows, DayProfile.read(p), growth=2.0)
    assert len(d.starts_s) == 144 and d.starts_s[-1] == DAY_S - 600
    assert list(d.work_per_s[:2]) == [5.0, 15.0] and list(d.work_per_s[72:74]) == [20.0, 60.0]
    assert list(d.requests[:2]) == [15.0, 45.0] and list(d.requests[72:74]) == [60.0, 180.0]
    flat = day_demand(windows, DayProfile.flat())
    assert set(flat.work_per_s) == {10.0, 30.0}


def test_an_hour_profile_wraps_midnight_to_its_first_row(tmp_path):
    p = tmp_path / "day.csv"
    p.write_text("hour,rate\n6,2\n18,1\n")
    day = DayProfile.read(p)
    assert day.factor(3 * 3600) == 0.5 and day.factor(7 * 3600) == 1.0 and day.factor(20 * 3600) == 0.5


@pytest.mark.parametrize(
    "text,why",
    [
        ("hours,rate\n0,1\n", "header must be hour,rate or time,rate"),
        ("hour,rate\n", "no rows under the header"),
        ("hour,rate\n0,1\n0,2\n", "times must increase"),
        ("hour,rate\n0,-1\n", "rates must be >= 0"),
        ("hour,rate\n0,0\n5,0\n", "not all 0"),
        ("hour,rate\n25,1\n", "not within the day"),
        ("time,rate\n9am,1\n", "not a time of day"),
        ("hour,rate\n0,lots\n", "'lots' is not a number"),
        ("hour,rate\n0,1,2\n", "line 2 has 3 fields"),
    ],
)
def test_a_bad_day_profile_is_one_line(tmp_path, text, why):
    p = tmp_path / "day.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=why) as e:
        DayProfile.read(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)
