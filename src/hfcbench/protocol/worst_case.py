"""The per-image worst case over attacks (MEAD, Granese et al. 2022): for each source image, the
successful AE that the detector scores lowest among every attack evaluated against it.

A detector is only as good as its worst case per input: an attacker who can run several attacks
keeps, for every image, whichever AE slipped past best. The AUC of clean images against these
worst AEs is the detector's per-image worst-case AUC; it can be lower than the AUC after every
single attack, since different images may be hidden best by different attacks.
"""

from __future__ import annotations

import numpy as np


def per_image_worst(parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """``parts``: ``{attack: (scores, sources)}`` of each attack's successful AEs (scores (n_a,),
    sources (n_a,) their images' positions). Returns the worst (lowest) score per source image
    that any attack fooled the classifier on, those sources (ascending), and how many images
    each attack provided the worst AE for (ties go to the attack named first)."""
    best: dict[int, tuple[float, str]] = {}
    for attack, (scores, sources) in parts.items():
        scores, sources = np.asarray(scores, dtype=np.float64), np.asarray(sources, dtype=np.int64)
        for score, source in zip(scores, sources, strict=True):
            if int(source) not in best or score < best[int(source)][0]:
                best[int(source)] = (float(score), attack)
    sources = np.array(sorted(best), dtype=np.int64)
    scores = np.array([best[s][0] for s in sources], dtype=np.float64)
    winners = {attack: 0 for attack in parts}
    for _, attack in best.values():
        winners[attack] += 1
    return scores, sources, winners
