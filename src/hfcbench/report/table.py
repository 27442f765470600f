"""A captioned table, as every report renders it (text, Markdown, the page)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """A captioned table with an optional note printed under it. For the page
    (:mod:`hfcbench.report.page`) a table also says what its rows and columns are: ``kind``
    (``main``, ``detectors`` or ``attacks``), its (dataset, model) ``group``, the detector or
    attack of each row (``row_keys``; None for summary rows) and of each column (``column_keys``),
    and for a ranking its ``estimates`` (label, value, low, high) in row order and what they
    measure (``measure``, the chart's caption)."""

    caption: str
    headers: list[str]
    rows: list[list]
    note: str = ""
    kind: str = ""
    group: tuple[str, str] = ("", "")
    row_keys: list[str | None] = field(default_factory=list)
    column_keys: list[str | None] = field(default_factory=list)
    estimates: list[tuple[str, float | None, float | None, float | None]] = field(default_factory=list)
    measure: str = ""
