"""The leaderboard page in a real headless Chromium: it renders, sorts, filters, and fetches
nothing. Records are written by hand, so every expected order and count is known."""

import json

import pytest

from hfcbench.cli import main
from hfcbench.report.page import page, write_page
from hfcbench.results import NOT_ADAPTIVE
from tests.browser import Browser, find_browser
from tests.conftest import require
from tests.records import record

AFTER = {("pneumoniamnist", "kd"): 0.62, ("pneumoniamnist", "maha"): 0.31, ("pneumoniamnist", "lid"): 0.77,
         ("breastmnist", "kd"): 0.55, ("breastmnist", "maha"): 0.12, ("breastmnist", "lid"): 0.91}


def records():
    found = [record(d, det, "bim+hfc", after) for (d, det), after in AFTER.items()]
    found.append(record("pneumoniamnist", "kd", "closest", 0.4, n_after=5))  # under the 20-AE rule
    found.append(record("pneumoniamnist", "lid", "joint", None, status=NOT_ADAPTIVE))
    return found


def test_the_page_is_self_contained_and_marks_thin_and_unattacked_cells():
    text = page(records())
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    links = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, never fetched
    assert "src=" not in links and "http://" not in links and "https://" not in links
    assert '<td class="thin"' in text and "n&lt;20 (n=5)" in text
    assert 'class="not-adaptive"' in text and "<svg" in text
    assert text.count("<section") == 2


@pytest.fixture(scope="module")
def browser():
    require(find_browser() is not None, "Chromium is not installed (apt-get install chromium); the page's browser "
                                        "test needs it")
    with Browser() as opened:
        yield opened


VISIBLE_RECORDS = ("Array.from(document.querySelectorAll('#records tbody tr')).filter(r => r.offsetParent !== null)"
                   ".map(r => [r.cells[0].textContent, r.cells[5].textContent, r.cells[7].textContent])")


def test_the_page_renders_sorts_filters_and_fetches_nothing(tmp_path, browser):
    path = write_page(records(), tmp_path / "page.html")
    browser.open(path)
    assert browser.evaluate("document.title") == "hfcbench leaderboard"
    assert browser.evaluate("document.querySelectorAll('section').length") == 2
    assert len(browser.evaluate(VISIBLE_RECORDS)) == 8
    # sorting the "AUC after" column: ascending, then descending, numbers as numbers, n/a last
    header = "document.querySelectorAll('#records th')[7]"
    browser.evaluate(f"{header}.click()")
    shown = [float(row[2].split()[0]) if row[2][0].isdigit() else None for row in browser.evaluate(VISIBLE_RECORDS)]
    numbers = sorted(100 * v for v in [*AFTER.values(), 0.4])
    assert shown == [pytest.approx(v, abs=0.05) for v in numbers] + [None]
    browser.evaluate(f"{header}.click()")
    shown = [float(row[2].split()[0]) for row in browser.evaluate(VISIBLE_RECORDS)[:7]]
    assert shown == [pytest.approx(v, abs=0.05) for v in reversed(numbers)]
    # the main table sorts by detector name
    browser.evaluate("document.querySelector('section table th').click()")
    first_table = "Array.from(document.querySelector('section table').tBodies[0].rows).map(r => r.cells[0].textContent)"
    assert browser.evaluate(first_table) == sorted(browser.evaluate(first_table))
    # filters: one detector, then one dataset too
    browser.evaluate("const d = document.getElementById('f-detector'); d.value = 'maha';"
                     "d.dispatchEvent(new Event('change'))")
    assert [row[1] for row in browser.evaluate(VISIBLE_RECORDS)] == ["maha", "maha"]
    visible_rows = ("Array.from(document.querySelectorAll('section table tbody tr[data-detector]'))"
                    ".filter(r => r.offsetParent !== null).map(r => r.dataset.detector)")
    assert set(browser.evaluate(visible_rows)) == {"maha"}
    browser.evaluate("const s = document.getElementById('f-dataset'); s.value = 'breastmnist';"
                     "s.dispatchEvent(new Event('change'))")
    assert browser.evaluate(VISIBLE_RECORDS) == [["breastmnist", "maha", browser.evaluate(VISIBLE_RECORDS)[0][2]]]
    assert browser.evaluate("Array.from(document.querySelectorAll('section')).filter(s => s.offsetParent !== null)"
                            ".length") == 1
    # the attack filter hides the other attacks' columns
    browser.evaluate("const a = document.getElementById('f-attack'); a.value = 'closest';"
                     "a.dispatchEvent(new Event('change'))")
    hidden = "Array.from(document.querySelectorAll('th[data-attack]')).filter(h => h.offsetParent === null).length"
    assert browser.evaluate(hidden) > 0
    # nothing but the page itself was requested
    assert browser.requests and all(url.startswith("file://") for url in browser.requests)


def test_leaderboard_html_from_result_files(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records()))
    out = tmp_path / "pages" / "board.html"
    (tmp_path / "pages").mkdir()
    assert main(["leaderboard", str(results), "--html", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>") and str(out) in capsys.readouterr().out
