import pytest

from evalspec.judge.aggregate import aggregate


def test_mean_median_spread_are_always_reported():
    agg = aggregate([4, 5, 2], "median", 4)
    assert (agg.mean, agg.median, agg.min, agg.max) == (pytest.approx(11 / 3), 4, 2, 5)
    assert agg.stdev == pytest.approx(1.527525, rel=1e-5)
    assert agg.value == 4 and agg.passed and agg.n == 3 and agg.votes_for == 2


@pytest.mark.parametrize("method,scores,value,passed", [
    ("mean", [4, 5, 2], 11 / 3, False),
    ("median", [4, 5, 2], 4, True),
    ("min", [4, 5, 4], 4, True),
    ("min", [4, 5, 3], 3, False),
    ("majority", [4, 5, 2], 4, True),
    ("majority", [4, 2, 5, 1], 3, False),   # half is not a majority
    ("majority", [4, 4, 5, 1], 4, True),
])
def test_decisions(method, scores, value, passed):
    agg = aggregate(scores, method, 4)
    assert agg.value == pytest.approx(value)
    assert agg.passed is passed


def test_single_sample_has_zero_spread():
    agg = aggregate([3], "mean", 4)
    assert agg.stdev == 0 and not agg.passed


def test_float_noise_does_not_fail_a_threshold():
    assert aggregate([4.2, 3.9, 3.9], "mean", 4).passed


def test_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        aggregate([], "mean", 4)
    with pytest.raises(ValueError, match="unknown aggregate 'mode'"):
        aggregate([3], "mode", 4)
