"""Adaptive attacks on a trained model: each lowers the statistic it targets, HFC the most."""

import numpy as np
import pytest
import torch

from hfcbench.attacks import build_attack
from hfcbench.attacks.adaptive import AttackContext
from hfcbench.attacks.adaptive.hfc import HFCTerm
from hfcbench.detectors.maha import MAHA
from hfcbench.errors import InvalidParameterError
from hfcbench.models import FeatureExtractor


@pytest.fixture(scope="module")
def setting(trained_synthetic):
    model, dataset = trained_synthetic
    extractor = FeatureExtractor(model)
    context = AttackContext(extractor.extract(dataset.train.images, dataset.train.labels))
    x, y = dataset.test.images[:48], dataset.test.labels[:48]
    return model, extractor, context, x, y


def test_hfc_lowers_mahalanobis_to_the_target_class(setting):
    model, extractor, context, x, y = setting
    budget = dict(eps=16 / 256, alpha=1 / 256, steps=32)
    bim = build_attack("bim", model, **budget)(x, y)
    hfc = build_attack("hfc", model, context=context, term_params={"n_components": 4}, **budget)(x, y)
    assert bim.success_rate >= 0.9 and hfc.success_rate >= 0.4
    both = bim.success & hfc.success  # compare AEs that fool the classifier, as the harness does
    term = HFCTerm.from_context(context, n_components=4)
    with torch.no_grad():
        bim_term = term(extractor(bim.adv[both]), bim.target[both])
        hfc_term = term(extractor(hfc.adv[both]), hfc.target[both])
    assert hfc_term.mean() < 0.5 * bim_term.mean()
    # per layer, the tied-covariance Mahalanobis distance to the target class (an independent statistic)
    target_feats = context.reference
    maha = MAHA(shrinkage=0.1).fit(target_feats, target_feats)
    d_bim = maha.characteristics(extractor.extract(bim.adv[both]))
    d_hfc = maha.characteristics(extractor.extract(hfc.adv[both]))
    lower = [np.median(d_hfc[layer]) < np.median(d_bim[layer]) for layer in d_bim]
    assert np.mean(lower) >= 0.75, dict(zip(d_bim, lower, strict=True))


def test_hfc_weight_scales_every_layer_and_zero_leaves_plain_bim(setting):
    model, extractor, context, x, y = setting
    paper = HFCTerm.from_context(context, n_components=2)
    tripled = HFCTerm(paper.mixtures, scale=3.0)
    with torch.no_grad():
        feats = extractor(x)
        torch.testing.assert_close(tripled(feats, 1 - y), 3 * paper(feats, 1 - y))
    budget = dict(eps=8 / 256, alpha=1 / 256, steps=4)
    bim = build_attack("bim", model, **budget)(x, y)
    off = build_attack("hfc", model, context=context, term_params={"n_components": 2, "scale": 0.0}, **budget)(x, y)
    assert torch.equal(off.adv, bim.adv)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidParameterError, match="--hfc-weight"):
            HFCTerm(paper.mixtures, scale=bad)


@pytest.mark.parametrize("spec", ["mim+hfc", "tim+hfc", "cw+hfc", "pgd+hfc"])
def test_hfc_composes_with_every_base_attack(setting, spec):
    model, _, context, x, y = setting
    attack = build_attack(spec, model, context=context, term_params={"n_components": 2}, eps=8 / 256,
                          alpha=1 / 256, steps=4)
    assert type(attack).__name__ == spec.split("+")[0].upper() and type(attack.terms[0]).__name__ == "HFCTerm"
    result = attack(x, y)
    assert (result.adv - x).abs().max() <= 8 / 256 + 1e-6


@pytest.mark.parametrize("spec", ["random", "closest"])
def test_feature_guides_move_features_towards_the_guide(setting, spec):
    model, extractor, context, x, y = setting
    attack = build_attack(spec, model, context=context, eps=8 / 256, alpha=1 / 256, steps=16)
    attack.terms[0].prepare(attack, x, 1 - y, torch.arange(len(x)))
    with torch.no_grad():
        before = attack.loss(x, 1 - y).mean()
    result = attack(x, y, 1 - y)
    with torch.no_grad():
        after = attack.loss(result.adv, result.target).mean()
    assert after < 0.7 * before


@pytest.mark.parametrize("spec,detector_stat", [("kde", "kd"), ("lid", "lid")])
def test_statistic_aware_attacks_lower_their_statistic(setting, spec, detector_stat):
    model, extractor, context, x, y = setting
    budget = dict(eps=8 / 256, alpha=0.5 / 256, steps=24)
    plain = build_attack("bim", model, **budget)(x, y)
    aware = build_attack(spec, model, context=context, **budget)(x, y)
    term = build_attack(spec, model, context=context, **budget).terms[0]
    with torch.no_grad():
        assert term(extractor(aware.adv), aware.target).mean() < term(extractor(plain.adv), plain.target).mean()


@pytest.mark.parametrize("spec", ["pgd", "cw", "random", "pgd+hfc"])
def test_batch_size_never_changes_an_adversarial_example(setting, spec):
    """Random starts, random guides and CW's kappa are functions of the seed and each input's
    index, not of the batch it ran in: batches of 5 and of 48 give identical AEs and targets."""
    model, _, context, x, y = setting
    attack = build_attack(spec, model, context=context, term_params={"n_components": 2}, eps=8 / 256,
                          alpha=1 / 256, steps=4, seed=3)
    small, whole = attack.in_batches(x, y, batch_size=5), attack.in_batches(x, y, batch_size=48)
    assert torch.equal(small.adv, whole.adv) and torch.equal(small.target, whole.target)
    other_seed = build_attack(spec, model, context=context, term_params={"n_components": 2}, eps=8 / 256,
                              alpha=1 / 256, steps=4, seed=4).in_batches(x, y, batch_size=48)
    assert not torch.equal(other_seed.adv, whole.adv)  # each spec draws something from the seed


def test_random_targets_follow_the_input_index_not_the_batch():
    from hfcbench.attacks.base import choose_targets

    y = torch.arange(40) % 5
    whole = choose_targets(y, 5, seed=2)
    parts = torch.cat([choose_targets(y[i:i + 7], 5, seed=2, index=np.arange(i, min(i + 7, 40)))
                       for i in range(0, 40, 7)])
    assert torch.equal(whole, parts) and (whole != y).all()
    assert len(set(whole.tolist())) > 1 and not torch.equal(whole, choose_targets(y, 5, seed=3))


def test_closest_guides_are_images_the_classifier_puts_in_the_target_class(setting, monkeypatch):
    """Every guide ``closest`` picks is a reference image whose target logit leads by the margin,
    and among those the nearest in penultimate features (worked here by brute force)."""
    from hfcbench.attacks.adaptive.guide import MARGIN

    model, extractor, context, x, y = setting
    attack = build_attack("closest", model, context=context, eps=8 / 256, alpha=1 / 256, steps=8)
    term, target = attack.terms[0], 1 - y
    term.prepare(attack, x, target, torch.arange(len(x)))
    logits, reference = context.reference.logits.double(), context.reference
    clean = extractor(x).penultimate.detach().double()
    for i, cls in enumerate(target.tolist()):
        others = torch.cat([logits[:, :cls], logits[:, cls + 1:]], 1).max(1).values
        allowed = (logits[:, cls] - others > MARGIN).nonzero().flatten()
        nearest = allowed[torch.cdist(clean[i:i + 1], reference.penultimate[allowed].double())[0].argmin()]
        for name in reference.layer_names:
            torch.testing.assert_close(term.guides[name][i], reference.layers[name][nearest])
    chosen = attack(x, y, target).success_rate
    # the earlier rule (the nearest image *labelled* as the target) fools the classifier less often
    from hfcbench.attacks.adaptive import guide

    monkeypatch.setattr(guide, "guide_rows", lambda context, cls, margin=MARGIN: context.rows_of(cls))
    labelled = build_attack("closest", model, context=context, eps=8 / 256, alpha=1 / 256, steps=8)(x, y, target)
    assert chosen > labelled.success_rate, (chosen, labelled.success_rate)
