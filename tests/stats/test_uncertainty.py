"""Bootstrap intervals and the combination of seeds, against independent computations."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from hfcbench.errors import InvalidParameterError
from hfcbench.stats.bootstrap import (
    auc_interval,
    paired_bootstrap,
    ratio_of_means_interval,
    source_counts,
    weighted_auc,
    weighted_tpr_at_tnr,
)
from hfcbench.stats.intervals import combine_seeds, proportion_interval
from hfcbench.stats.metrics import auc, tpr_at_tnr


def test_weighted_metrics_equal_the_plain_ones_on_the_expanded_sample():
    rng = np.random.default_rng(0)
    clean, adv = rng.normal(size=30).round(1), rng.normal(size=25).round(1) + 0.5  # rounding makes ties
    w_clean, w_adv = rng.integers(0, 4, (40, 30)).astype(float), rng.integers(0, 4, (40, 25)).astype(float)
    got_auc, got_tpr = weighted_auc(clean, adv, w_clean, w_adv), weighted_tpr_at_tnr(clean, adv, w_clean, w_adv)
    for b in range(40):
        c, a = np.repeat(clean, w_clean[b].astype(int)), np.repeat(adv, w_adv[b].astype(int))
        assert got_auc[b] == pytest.approx(auc(c, a), abs=1e-12)
        assert got_tpr[b] == pytest.approx(tpr_at_tnr(c, a), abs=1e-12)
    ones = np.ones((1, 30)), np.ones((1, 25))
    assert weighted_auc(clean, adv, *ones)[0] == pytest.approx(auc(clean, adv))
    assert np.isnan(weighted_auc(clean, adv, w_clean[:1], np.zeros((1, 25))))[0]


def test_source_counts_are_resamples_with_replacement():
    counts = source_counts(50, 300, seed=1)
    assert counts.shape == (300, 50) and (counts.sum(1) == 50).all()
    assert counts.mean() == pytest.approx(1.0) and 0.8 < counts.var() < 1.2  # multinomial: var = 1 - 1/n
    assert np.array_equal(counts, source_counts(50, 300, seed=1))
    assert not np.array_equal(counts, source_counts(50, 300, seed=2))


def _planted(n, rng, shift=1.0):
    clean = rng.normal(size=n)
    sources = np.arange(n)
    return clean, clean + shift + rng.normal(size=n), clean + 0.3 * shift + rng.normal(size=n), sources


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intervals_contain_the_estimate_and_shrink_as_n_grows(seed):
    rng = np.random.default_rng(seed)
    widths = []
    for n in (40, 160, 640):
        clean, before, after, sources = _planted(n, rng)
        ci = paired_bootstrap(clean, before, sources, after, sources, seed=seed)
        for name, value in (("auc_before", auc(clean, before)), ("auc_after", auc(clean, after)),
                            ("tpr90_before", tpr_at_tnr(clean, before)),
                            ("auc_drop", auc(clean, before) - auc(clean, after))):
            assert ci[f"{name}_ci_low"] <= value <= ci[f"{name}_ci_high"], (n, name)
        widths.append(ci["auc_after_ci_high"] - ci["auc_after_ci_low"])
    assert widths[0] > 1.5 * widths[1] > 2.25 * widths[2]  # about 1/sqrt(n): halves when n quadruples


def test_the_paired_drop_of_identical_scores_is_exactly_zero():
    rng = np.random.default_rng(3)
    clean, before, _, sources = _planted(80, rng)
    ci = paired_bootstrap(clean, before, sources, before.copy(), sources)
    assert ci["auc_drop_ci_low"] == 0.0 and ci["auc_drop_ci_high"] == 0.0
    assert ci["auc_before_ci_low"] < ci["auc_before_ci_high"]  # while the AUC itself is uncertain


def test_pairing_narrows_the_drop_interval():
    """Before and after AEs of one source share its resampling weight: a shared per-image effect
    cancels in the drop. Unpaired (after's sources shuffled) the interval is wider."""
    rng = np.random.default_rng(4)
    clean, before, _, sources = _planted(120, rng)
    after = before - 0.2 + 0.05 * rng.normal(size=120)
    paired = paired_bootstrap(clean, before, sources, after, sources)
    unpaired = paired_bootstrap(clean, before, sources, after, rng.permutation(sources))
    def width(ci):
        return ci["auc_drop_ci_high"] - ci["auc_drop_ci_low"]

    assert width(paired) < 0.7 * width(unpaired)


def test_a_side_without_aes_has_no_interval():
    clean = np.arange(10.0)
    ci = paired_bootstrap(clean, clean + 1, np.arange(10), np.empty(0), np.empty(0, dtype=int))
    assert ci["auc_after_ci_low"] is None and ci["auc_drop_ci_low"] is None and ci["auc_before_ci_low"] is not None


def test_auc_interval_against_a_brute_force_bootstrap():
    """Each replicate expanded by hand (an image drawn k times: its clean score and every positive
    made from it counted k times), scored by scikit-learn; the percentile interval must agree."""
    rng = np.random.default_rng(5)
    n, n_boot = 30, 200
    clean = rng.normal(size=n)
    sources = np.r_[np.arange(n), rng.integers(0, n, 10)]  # some images have two positives
    adv = 1.0 + rng.normal(size=len(sources))
    out = auc_interval(clean, adv, sources, n_boot=n_boot, seed=7)
    draws = np.random.default_rng(7).integers(0, n, (n_boot, n))  # the resamples source_counts draws
    replicates = []
    for drawn in draws:
        neg = clean[drawn]
        pos = np.concatenate([adv[sources == i] for i in drawn])
        replicates.append(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))
    low, high = np.percentile(replicates, [2.5, 97.5])
    assert out["auc"] == pytest.approx(roc_auc_score(np.r_[np.zeros(n), np.ones(len(adv))], np.r_[clean, adv]))
    assert (out["auc_ci_low"], out["auc_ci_high"]) == pytest.approx((low, high))
    assert out["n_adv"] == len(adv) and out["auc_ci_low"] <= out["auc"] <= out["auc_ci_high"]


def test_auc_interval_without_positives_or_with_mismatched_sources():
    empty = auc_interval(np.arange(5.0), np.empty(0), np.empty(0, dtype=int))
    assert empty["auc"] is None and empty["auc_ci_low"] is None and empty["n_adv"] == 0
    with pytest.raises(InvalidParameterError, match="3 scores but 2 source positions"):
        auc_interval(np.arange(5.0), np.ones(3), np.arange(2))


def test_ratio_of_means_interval_against_a_brute_force_bootstrap():
    """Each replicate resamples images by hand, keeping each numerator with its denominator."""
    rng = np.random.default_rng(3)
    n, n_boot = 40, 300
    top, bottom = 1.0 + rng.random(n), 1.0 + rng.random(n)
    out = ratio_of_means_interval(top, bottom, n_boot=n_boot, seed=11)
    draws = np.random.default_rng(11).integers(0, n, (n_boot, n))
    low, high = np.percentile([top[d].mean() / bottom[d].mean() for d in draws], [2.5, 97.5])
    assert out["value"] == pytest.approx(top.sum() / bottom.sum()) and out["n"] == n
    assert (out["value_ci_low"], out["value_ci_high"]) == pytest.approx((low, high))
    mean = ratio_of_means_interval(top, n_boot=n_boot, seed=11)  # no denominator: the plain mean
    assert mean["value"] == pytest.approx(top.mean())
    assert mean["value_ci_low"] == pytest.approx(np.percentile([top[d].mean() for d in draws], 2.5))


def test_ratio_of_means_interval_of_a_constant_is_a_point_and_empty_is_none():
    assert ratio_of_means_interval(np.full(7, 2.0), np.full(7, 4.0))["value_ci_low"] == pytest.approx(0.5)
    assert ratio_of_means_interval(np.full(7, 2.0), np.full(7, 4.0))["value_ci_high"] == pytest.approx(0.5)
    assert ratio_of_means_interval(np.empty(0))["value"] is None
    with pytest.raises(InvalidParameterError, match="two \\(n,\\) arrays"):
        ratio_of_means_interval(np.ones(3), np.ones(4))


def test_proportion_interval_is_the_wilson_score_interval():
    """Values worked by hand from Wilson (1927): 8 of 10 gives [0.4902, 0.9433] (as statsmodels'
    proportion_confint(8, 10, method="wilson")); 0 of n reaches z^2 / (n + z^2), never a point."""
    assert proportion_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    z2 = stats.norm.ppf(0.975) ** 2
    assert proportion_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert proportion_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))
    wide, narrow = proportion_interval(5, 10), proportion_interval(500, 1000)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    assert proportion_interval(0, 0) is None
    with pytest.raises(InvalidParameterError, match="11 of 10"):
        proportion_interval(11, 10)


def test_seeds_combine_into_a_t_interval_with_the_bootstrap_floor():
    # spread across seeds dominates: mean +- t_{0.975,2} * s / sqrt(3), worked by hand
    mean, low, high = combine_seeds([0.70, 0.80, 0.90], [0.01, 0.01, 0.01])
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((0.8, 0.8 - half, 0.8 + half))
    # seeds that agree cannot be surer than their own bootstraps: variance floored at mean(se^2)
    mean, low, high = combine_seeds([0.80, 0.80, 0.80], [0.03, 0.04, 0.05])
    half = stats.t.ppf(0.975, 2) * math.sqrt((0.03 ** 2 + 0.04 ** 2 + 0.05 ** 2) / 3 / 3)
    assert (low, high) == pytest.approx((0.8 - half, 0.8 + half))
    assert combine_seeds([0.8], [0.01]) is None and combine_seeds([0.8, None], [0.01, None]) is None
    # a rate's interval stays in its range: [0.96, 0.99, 1.0] spreads past 1 unbounded
    mean, low, high = combine_seeds([0.96, 0.99, 1.0], [0.01, 0.01, 0.01], bounds=(0.0, 1.0))
    half = stats.t.ppf(0.975, 2) * float(np.std([0.96, 0.99, 1.0], ddof=1)) / math.sqrt(3)
    assert mean + half > 1 and (low, high) == pytest.approx((mean - half, 1.0))


def test_per_image_worst_case_against_brute_force():
    """For every source image, the lowest score of a successful AE over all attacks (MEAD)."""
    from hfcbench.protocol.worst_case import per_image_worst

    rng = np.random.default_rng(7)
    parts = {}
    for attack in ("a", "b", "c"):
        sources = np.sort(rng.choice(12, rng.integers(3, 10), replace=False))
        parts[attack] = (rng.normal(size=len(sources)).round(1), sources)
    scores, sources, winners = per_image_worst(parts)
    for image in range(12):
        candidates = [(s, attack) for attack, (ss, srcs) in parts.items()
                      for s, src in zip(ss, srcs, strict=True) if src == image]
        if not candidates:
            assert image not in sources
            continue
        lowest = min(s for s, _ in candidates)
        assert scores[list(sources).index(image)] == lowest
    assert sum(winners.values()) == len(sources) and list(sources) == sorted(sources)
    first = min(c for c in [(s, "abc".index(a), a) for a, (ss, _) in parts.items() for s in ss])
    assert scores.min() == first[0]


def test_per_image_worst_case_by_hand():
    from hfcbench.protocol.worst_case import per_image_worst

    scores, sources, winners = per_image_worst({"x": (np.array([1.0, 2.0]), np.array([0, 1])),
                                                "y": (np.array([1.0, 0.5, 3.0]), np.array([0, 1, 4]))})
    assert scores.tolist() == [1.0, 0.5, 3.0] and sources.tolist() == [0, 1, 4]
    assert winners == {"x": 1, "y": 2}  # image 0 ties: the attack named first keeps it
