"""Reporting: pure functions of result records (:mod:`hfcbench.results`), so runs from several
machines merge. ``cells`` (an estimate and its interval as tables show it), ``leaderboard``
(tables and rankings), ``files`` (Markdown, CSV, page), ``page`` (the self-contained HTML page),
``plots``, ``gate`` (``hfcbench check``). It imports the statistics, never the protocol.
"""
