"""Statistics against values computed by hand or published with the method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalspec import stats


class TestMcNemar:
    def test_discordant_pairs_decide(self):
        # 10 discordant pairs split 9 : 1 -> two-sided exact p = 2 * (1 + 10) / 2**10.
        a = [True] * 20 + [False] * 9 + [True] * 1
        b = [True] * 20 + [True] * 9 + [False] * 1
        t = stats.mcnemar_exact(a, b, name_a="old", name_b="new")
        assert (t.informative, t.a_better, t.b_better) == (10, 1, 9)
        assert t.p_value == pytest.approx(22 / 1024)
        assert t.significant and t.better == "new" and t.warning is None
        assert t.verdict == "new better than old (p = 0.021, α = 0.05)"

    def test_concordant_pairs_do_not_count(self):
        # Adding 1000 pairs where both pass changes nothing.
        base = stats.mcnemar_exact([True, False, False], [False, True, True])
        padded = stats.mcnemar_exact([True, False, False] + [True] * 1000,
                                     [False, True, True] + [True] * 1000)
        assert base.p_value == padded.p_value == pytest.approx(1.0)

    def test_seed_comparison_is_honestly_inconclusive(self):
        # The seed: gpt4o passed S1 and S3 where llama failed; nothing the other way.
        llama = [False, True, False, True, False, True, True, True]
        gpt4o = [True, True, True, True, False, True, True, True]
        t = stats.mcnemar_exact(llama, gpt4o, name_a="llama", name_b="gpt4o")
        assert t.p_value == pytest.approx(0.5) and t.min_p_value == pytest.approx(0.5)
        assert not t.significant and t.underpowered
        assert t.verdict == "no significant difference (p = 0.50, α = 0.05)"
        assert t.warning == ("too few discordant pairs (2) to tell the models apart: even if one "
                             "model had won all of them, p would be 0.50 ≥ α = 0.05; at least "
                             "6 are needed")

    def test_no_discordant_pairs(self):
        t = stats.mcnemar_exact([True, False], [True, False])
        assert t.p_value == 1.0 and t.informative == 0
        assert t.warning is not None and t.warning.startswith("no discordant pairs among 2")

    def test_six_one_sided_pairs_are_enough(self):
        t = stats.mcnemar_exact([False] * 6, [True] * 6)
        assert t.p_value == pytest.approx(2 / 64) and t.significant and not t.underpowered
        five = stats.mcnemar_exact([False] * 5, [True] * 5)
        assert five.p_value == pytest.approx(2 / 32) and five.underpowered

    def test_lengths_must_match(self):
        with pytest.raises(ValueError, match="differ in length"):
            stats.mcnemar_exact([True], [True, False])


@pytest.mark.parametrize(("alpha", "need"), [(0.05, 6), (0.01, 8), (0.1, 5)])
def test_min_informative_pairs(alpha, need):
    assert stats.min_informative_pairs(alpha) == need
    assert 2 * 0.5 ** need < alpha <= 2 * 0.5 ** (need - 1)


class TestWilcoxon:
    def test_darwin_maize_example(self):
        # Fisher's analysis of Darwin's maize heights, the example in scipy's documentation:
        # W = 24, exact two-sided p = 0.0413.
        d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
        t = stats.wilcoxon_signed_rank([0] * len(d), d)
        assert t.statistic == 24 and t.p_value == pytest.approx(0.041259765625)
        assert (t.a_better, t.b_better) == (2, 13) and t.better == "B"

    def test_all_one_way_small_sample(self):
        # 3 score pairs, all higher for B: the exact p is 2 / 2**3.
        t = stats.wilcoxon_signed_rank([2, 3, 4], [4, 5, 5], name_a="llama", name_b="gpt4o")
        assert t.p_value == pytest.approx(0.25) and t.min_p_value == pytest.approx(0.25)
        assert t.underpowered and "too few non-tied score pairs (3)" in (t.warning or "")

    def test_ties_are_dropped(self):
        with_ties = stats.wilcoxon_signed_rank([3, 3, 1, 2, 3, 4, 1, 2, 4],
                                               [3, 3, 2, 4, 5, 5, 4, 5, 4])
        assert with_ties.n == 9 and with_ties.informative == 6

    def test_all_zero_differences(self):
        t = stats.wilcoxon_signed_rank([4, 5, 3], [4, 5, 3])
        assert t.p_value == 1.0 and t.statistic is None and not t.significant
        assert "no non-tied score pairs among 3" in (t.warning or "")


class TestBootstrap:
    def test_deterministic(self):
        data = [3.1, 4.7, 2.2, 4.9, 3.3, 1.8, 4.4, 2.9]
        assert stats.bootstrap_mean(data) == stats.bootstrap_mean(data)
        # The seed is what makes it repeatable: another seed resamples differently.
        assert stats.bootstrap_mean(data) != stats.bootstrap_mean(data, seed=1)

    def test_matches_the_normal_approximation_on_a_large_sample(self):
        rng = np.random.default_rng(7)
        outcomes = rng.random(400) < 0.5
        est = stats.pass_rate(outcomes.tolist())
        half = 1.96 * math.sqrt(est.value * (1 - est.value) / 400)
        assert est.low == pytest.approx(est.value - half, abs=0.01)
        assert est.high == pytest.approx(est.value + half, abs=0.01)

    def test_mean_interval_contains_the_mean(self):
        est = stats.bootstrap_mean([2, 3, 4, 4, 5])
        assert est.value == pytest.approx(3.6) and est.low < 3.6 < est.high
        assert 2 <= est.low and est.high <= 5

    def test_degenerate_and_empty(self):
        all_pass = stats.pass_rate([True] * 9)
        assert (all_pass.value, all_pass.low, all_pass.high) == (1.0, 1.0, 1.0)
        assert all_pass.degenerate
        assert stats.format_interval(all_pass, percent=True) == "100%"
        empty = stats.bootstrap_mean([])
        assert empty.value is None and stats.format_interval(empty) == "—"

    def test_paired_difference_keeps_pairs_together(self):
        # B passes exactly where A does, plus two more: every resample has difference >= 0.
        a = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1]
        b = [1, 1, 1, 1, 1, 0, 1, 0, 1, 1]
        est = stats.paired_difference(a, b)
        assert est.value == pytest.approx(0.2)
        assert est.low >= 0 and est.high <= 0.5


def test_formatting():
    assert stats.format_p(0.0004) == "p < 0.001"
    assert stats.format_p(0.0312) == "p = 0.031"
    assert stats.format_p(0.5) == "p = 0.50"
    est = stats.Estimate(0.25, 0.0, 0.625, 8)
    assert stats.format_interval(est, percent=True) == "25% [0–62%]"
    assert stats.format_interval(est, percent=True, signed=True) == "+25 pp [+0, +62]"
    assert stats.format_interval(stats.Estimate(4.5, 4.0, 5.0, 3)) == "4.50 [4.00, 5.00]"
