"""Result records written by hand, so that every expected table, order and interval is known."""


def record(dataset, detector, attack, after, *, n_after=40, status=None, seed=0, half_width=0.05, before=0.95,
           se=None, fit_attack="bim", evasion=None, evaded=None):
    """One cell's record: AUC ``before`` -> ``after`` with intervals of ``half_width``, ``n_after``
    successful AEs after the attack (45 before) and, if given, a bootstrap standard error ``se``;
    with ``evasion``, the evasion at 5% FPR after the attack (0.1 before) with intervals of
    ``half_width``, and with ``evaded`` the per-image evasion string behind it."""
    metrics = {"auc_before": before, "auc_before_ci_low": before - half_width,
               "auc_before_ci_high": before + half_width, "tpr90_before": 0.9, "adv_acc_before": 0.98, "n_clean": 50,
               "n_adv_before": 45, "n_adv_after": n_after, "n_boot": 2000}
    if se is not None:
        metrics.update(auc_before_se=se, auc_after_se=se)
    if after is not None:
        metrics.update(auc_after=after, auc_after_ci_low=after - half_width, auc_after_ci_high=after + half_width,
                       auc_drop=before - after, auc_drop_ci_low=before - after - half_width,
                       auc_drop_ci_high=before - after + half_width, tpr90_after=0.4, adv_acc_after=0.9)
    if evasion is not None:
        metrics.update(evasion5_before=0.1, evasion5_before_ci_low=0.05, evasion5_before_ci_high=0.15,
                       evasion5=evasion, evasion5_ci_low=max(evasion - half_width, 0.0),
                       evasion5_ci_high=min(evasion + half_width, 1.0))
    r = {"dataset": dataset, "model": "resnet20", "seed": seed, "fit_attack": fit_attack, "attack": attack,
         "detector": detector, "metrics": metrics, "params": {"eps": 8 / 256, "steps": 16, "noisy": True},
         "versions": {"hfcbench": "test", "torch": "2.13.0"}, "device": "cpu"}
    if evaded is not None:
        r["per_image"] = {"evaded5": evaded, "evaded5_before": "0" * len(evaded)}
    if status:
        r["status"] = status
    return r
