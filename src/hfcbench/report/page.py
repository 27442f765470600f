"""The leaderboard as one self-contained HTML page (``hfcbench leaderboard FILES --html OUT.html``).

The page holds the tables of :func:`hfcbench.report.leaderboard.tables` for every (dataset,
model, settings) group, each metric with its interval, the minimum-AE marks (``n<20``) and the
``not adaptively attacked`` marks highlighted; a bar chart per group of each detector's worst case
with its interval (inline SVG: its evasion at 5% FPR, or its AUC for records that carry no
evasion); the benign-shift tables of a ``--benign-shift`` run; and a table of every record with
its AUCs, evasion, TPR and realised FPR at 5% FPR, settings, platform and versions. Every column
sorts on a click (numbers as numbers; in ``before -> after`` cells by the after value); selectors
filter by dataset, detector and attack. CSS and script are inline and a content-security policy
forbids any fetch: the page opens offline, as a file or an attachment.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..cache import atomic_write_bytes
from ..results import NOT_ADAPTIVE, settings
from .cells import MIN_AES
from .leaderboard import tables
from .table import Table

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}h3{font-size:1em}
#filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ccc;z-index:1}
#filters label{margin-right:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.thin{color:#888;background:#f7f7f7}td.not-adaptive{background:#fff3cd}td.warn{background:#f8d7da}
tfoot td{background:#fafafa;font-style:italic}
.note{color:#555;max-width:70em;font-size:12px}
.hidden{display:none}
"""

SCRIPT = """
function sortKey(cell){
  if(cell.dataset.sort!==undefined){const v=parseFloat(cell.dataset.sort);return isNaN(v)?null:v;}
  let text=cell.textContent;const arrow=text.lastIndexOf('->');if(arrow>=0)text=text.slice(arrow+2);
  if(/n</.test(text))return null;const m=text.match(/-?\\d+(\\.\\d+)?/);return m?parseFloat(m[0]):text.trim();
}
function sortBy(th){
  const table=th.closest('table'),body=table.tBodies[0],col=th.cellIndex;
  const ascending=th.getAttribute('aria-sort')!=='ascending';
  table.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',ascending?'ascending':'descending');
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const x=sortKey(a.cells[col]),y=sortKey(b.cells[col]);
    if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
    const c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
    return ascending?c:-c;});
  rows.forEach(r=>body.appendChild(r));
}
function applyFilters(){
  const want={dataset:document.getElementById('f-dataset').value,
    detector:document.getElementById('f-detector').value,attack:document.getElementById('f-attack').value};
  const off=(el,key)=>want[key]&&el.dataset[key]!==undefined&&el.dataset[key]!==want[key];
  document.querySelectorAll('[data-dataset],[data-detector],[data-attack]').forEach(el=>{
    el.classList.toggle('hidden',off(el,'dataset')||off(el,'detector')||off(el,'attack'));});
}
document.querySelectorAll('th').forEach(th=>th.addEventListener('click',()=>sortBy(th)));
document.querySelectorAll('#filters select').forEach(s=>s.addEventListener('change',applyFilters));
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _cell_class(text: str) -> str:
    if text.startswith(NOT_ADAPTIVE) or f"-> {NOT_ADAPTIVE}" in text:
        return "not-adaptive"
    if "(!)" in text:
        return "warn"
    return "thin" if "n<" in text else ""


def _attr(name: str, value: str | None) -> str:
    return "" if value is None else f' data-{name}="{_e(value)}"'


def _table(table: Table) -> str:
    row_kind = "attack" if table.kind == "attacks" else "detector"
    columns = table.column_keys or [None] * len(table.headers)
    head = "".join(f"<th{_attr('attack', key)}>{_e(h)}</th>" for h, key in zip(table.headers, columns, strict=True))
    body: list[str] = []
    foot: list[str] = []
    keys = table.row_keys or [None] * len(table.rows)
    for row, key in zip(table.rows, keys, strict=True):
        cells = "".join(f'<td class="{_cell_class(str(v))}"{_attr("attack", col)}>{_e(v)}</td>'
                        for v, col in zip(row, columns, strict=True))
        (foot if key is None and table.kind == "main" else body).append(f"<tr{_attr(row_kind, key)}>{cells}</tr>")
    return (f"<h3>{_e(table.caption)}</h3><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            + (f"<tfoot>{''.join(foot)}</tfoot>" if foot else "") + f"</table><p class=note>{_e(table.note)}</p>")


def _chart(table: Table) -> str:
    """Horizontal bars of the ranking's estimates (rates in [0, 1]) with their intervals, inline SVG."""
    bars = [(label, value, low, high) for label, value, low, high in table.estimates if value is not None]
    if not bars:
        return ""
    width, left, row = 520, 190, 20
    scale = width - left - 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(bars) + 30}" role="img" '
             f'aria-label="{_e(table.caption)}"><style>text{{font:11px sans-serif}}</style>']
    for i, (label, value, low, high) in enumerate(bars):
        y = 5 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{_e(label)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{scale * value:.1f}" height="{row - 6}" fill="#6c8ebf"/>')
        if low is not None and high is not None:
            parts.append(f'<line x1="{left + scale * low:.1f}" x2="{left + scale * high:.1f}" y1="{y + row / 2:.1f}" '
                         f'y2="{y + row / 2:.1f}" stroke="#222" stroke-width="1.5"/>')
    axis = 10 + row * len(bars)
    parts += [f'<text x="{left + scale * t:.1f}" y="{axis + 12}" text-anchor="middle">{t:g}</text>'
              for t in (0, 0.25, 0.5, 0.75, 1)]
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{_e(table.measure)}</figcaption></figure>"


def _metric_cell(metrics: dict, name: str) -> str:
    """A rate in % with its interval, sorted by the value; the error (or n/a) where there is none."""
    value, low, high = (metrics.get(f"{name}{s}") for s in ("", "_ci_low", "_ci_high"))
    if value is None:
        return f'<td data-sort="">{_e(metrics.get("error") or "n/a")}</td>'
    interval = "" if low is None or high is None else f" [{100 * low:.1f}, {100 * high:.1f}]"
    return f'<td data-sort="{value}">{100 * value:.1f}{interval}</td>'


def _records(records: list[dict]) -> str:
    headers = ["dataset", "model", "seed", "fit attack", "attack", "detector", "AUC before", "AUC after",
               "n AEs before", "n AEs after", "evasion@5%FPR after", "TPR@5%FPR after", "FPR realised at 5%",
               "status", "settings", "device", "versions"]
    rows = []
    for r in records:
        m = r["metrics"]
        status = r.get("status") or ("error" if "error" in m else "; ".join(r.get("warnings") or []))
        setting = ", ".join(f"{k}={v}" for k, v in settings(r) if v is not None)
        versions = ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items())
        rows.append(f'<tr data-dataset="{_e(r["dataset"])}" data-detector="{_e(r["detector"])}" '
                    f'data-attack="{_e(r["attack"])}"><td>{_e(r["dataset"])}</td><td>{_e(r["model"])}</td>'
                    f'<td data-sort="{r["seed"]}">{r["seed"]}</td><td>{_e(r["fit_attack"])}</td><td>{_e(r["attack"])}'
                    f'</td><td>{_e(r["detector"])}</td>{_metric_cell(m, "auc_before")}{_metric_cell(m, "auc_after")}'
                    f'<td data-sort="{m.get("n_adv_before") or 0}">{_e(m.get("n_adv_before"))}</td>'
                    f'<td data-sort="{m.get("n_adv_after") or 0}">{_e(m.get("n_adv_after"))}</td>'
                    + "".join(_metric_cell(m, name) for name in ("evasion5", "tpr_fpr5_after", "fpr5_realised")) +
                    f'<td>{_e(status)}</td><td>{_e(setting)}</td><td>{_e(r.get("device"))}</td><td>{_e(versions)}</td>'
                    "</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return (f"<h2>Every record ({len(records)})</h2><table id=records><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _select(name: str, values: list[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return f'<label>{name} <select id="f-{name}"><option value="">all</option>{options}</select></label>'


def page(records: list[dict], *, min_aes: int = MIN_AES, extra: Sequence[Table] = ()) -> str:
    """The HTML page of ``records`` (see the module docstring), with ``extra`` tables (benign shift)
    in their (dataset, model) sections."""
    groups: dict[tuple[str, str], list[Table]] = {}
    for table in [*tables(records, min_aes=min_aes), *extra]:
        groups.setdefault(table.group, []).append(table)
    sections = []
    for (dataset, model), found in groups.items():
        charts = "".join(_chart(t) for t in found if t.kind == "detectors")
        sections.append(f'<section data-dataset="{_e(dataset)}"><h2>{_e(dataset)} / {_e(model)}</h2>{charts}'
                        + "".join(_table(t) for t in found) + "</section>")
    values = {key: sorted({str(r[key]) for r in records}) for key in ("dataset", "detector", "attack")}
    filters = "".join(_select(key, values[key]) for key in values)
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>hfcbench leaderboard</title>'
            f"<style>{STYLE}</style></head><body><h1>hfcbench leaderboard</h1>"
            f"<p>{len(records)} records; made by hfcbench {__version__}. An AUC on fewer than {min_aes} successful AEs "
            f"is marked n&lt;{min_aes} and ranks nowhere; '{NOT_ADAPTIVE}' cells are highlighted. Click a column "
            f"header to sort.</p><div id=filters>{filters}</div>{''.join(sections)}{_records(records)}"
            f"<script>{SCRIPT}</script></body></html>")


def write_page(records: list[dict], path: Path, *, min_aes: int = MIN_AES, extra: Sequence[Table] = ()) -> Path:
    """Write :func:`page` to ``path`` atomically."""
    text = page(records, min_aes=min_aes, extra=extra)
    return atomic_write_bytes(Path(path), lambda handle: handle.write(text.encode()))
