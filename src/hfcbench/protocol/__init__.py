"""The protocol: what a run computes (paper Sec. V-A).

``config`` (the run's settings, checked by one schema), ``split`` (AdvTrain/AdvTest),
``budget`` (``--eps auto``), ``noise`` (noisy negatives), ``artifacts`` (the cached intermediates:
features, AE sets, fitted detectors, scores), ``cells`` (one record's numbers), ``worst_case``
(the per-image worst case over attacks), ``runner`` (every cell of a run, resumable),
``per_layer`` (Fig. 6's per-layer AUCs), ``validate`` (``hfcbench validate``). It imports the
statistics (:mod:`hfcbench.stats`), never the reporting (:mod:`hfcbench.report`).
"""
