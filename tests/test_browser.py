"""The quickstart notebook in a real JupyterLab, in headless Debian chromium (Playwright).

JupyterLab serves a copy of notebooks/ and examples/ on loopback; the quickstart is
opened and run once for the module, up to the start of its last run (a few seconds
of ``sleep``); then each test checks one thing on that page: Pause on that run's
dashboard holds new tasks back and Resume completes it (then the last cell, ``await
run``, runs), no cell failed, a screenshot is saved (build/artifacts/), axe-core finds
no WCAG 2.1 AA violation in the outputs, every figure has an accessible name. The machinery is in
tests/browser.py. Under ``make test`` a missing chromium or axe-core fails the tests
(``TASKEXEC_BROWSER_REQUIRED=1``); elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser
import pytest
from browser import (
    axe_scan,
    cell_errors,
    figure_names,
    lab_root,
    open_lab,
    require_browser,
    run_cells,
    screenshot,
)

QUICKSTART = "notebooks/quickstart.ipynb"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The quickstart open in JupyterLab, every cell run but the last (``await run``)."""
    require_browser()
    root = lab_root(tmp_path_factory.mktemp("lab"))
    with open_lab(root, QUICKSTART, tmp_path_factory.mktemp("lab-scratch")) as page:
        run_cells(page, "notebook:run-all-above", active=-1)
        yield page


JS_LAST_DASHBOARD = """() => { const d = [...document.querySelectorAll('.te-dashboard')].pop();
  if (!d) return null;
  const text = (sel) => { const e = d.querySelector(sel); return e ? e.innerText : ''; };
  return {status: text('.te-status'), counts: text('.te-counts')}; }"""


def last_dashboard(page: Any) -> dict[str, str]:
    """The status line and counts of the last dashboard on the page."""
    state = page.evaluate(JS_LAST_DASHBOARD)
    assert state is not None, "no dashboard on the page"
    return dict(state)


def wait_last_dashboard(page: Any, text: str, timeout: float = 60.0) -> dict[str, str]:
    """Wait until the last dashboard's status or counts show ``text``; return them."""
    page.wait_for_function(
        f"(t) => {{ const s = ({JS_LAST_DASHBOARD})(); "
        "return !!s && (s.status.includes(t) || s.counts.includes(t)); }",
        arg=text,
        polling=100,
        timeout=timeout * 1000,
    )
    return last_dashboard(page)


def done_count(state: dict[str, str]) -> int:
    """Tasks done, from counts such as ``2/5 done · 0 failed · ...``."""
    match = re.search(r"(\d+)/\d+ done", state["counts"])
    assert match, state
    return int(match.group(1))


def test_pause_holds_new_tasks_back_and_resume_completes_the_run(quickstart: Any) -> None:
    page = quickstart
    dashboard = page.locator(".te-dashboard").last
    dashboard.locator("button.te-pause").click()
    wait_last_dashboard(page, "state: paused")
    # The tasks running when Pause was pressed finish; no new one starts.
    paused = wait_last_dashboard(page, "· 0 running")
    screenshot(page, "quickstart-paused")
    held = done_count(paused)
    assert held < 5, paused
    page.wait_for_timeout(4000)  # longer than any of the run's tasks takes
    later = last_dashboard(page)
    assert "state: paused" in later["status"] and "· 0 running" in later["counts"], later
    assert done_count(later) == held
    dashboard.locator("button.te-resume").click()
    ended = wait_last_dashboard(page, "state: completed")
    assert done_count(ended) == 5
    run_cells(page, "notebook:run-cell", active=-1)  # await run: the run's end, recorded


def test_the_quickstart_runs_every_cell_without_an_error(quickstart: Any) -> None:
    assert cell_errors(quickstart) == []
    shot = screenshot(quickstart, "quickstart")
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_outputs_have_no_wcag_21_aa_violation(quickstart: Any) -> None:
    result = axe_scan(quickstart)
    assert "error" not in result, result
    assert result["passes"] > 0
    assert result["violations"] == [], json.dumps(result["violations"], indent=1)


def test_each_figure_is_named_by_its_text_alternative(quickstart: Any) -> None:
    # The name on the plot is the text of the caption shown beside it.
    names = figure_names(quickstart)
    captions = quickstart.evaluate(
        """() => Array.from(document.querySelectorAll('.taskexec-figure-caption'))
              .map((p) => p.textContent)"""
    )
    assert len(names) >= 2  # the Gantt and the DAG
    assert len(captions) == len(names)
    for name, caption in zip(names, captions, strict=True):
        assert name and caption.endswith(name), (name, caption)


def test_a_missing_browser_fails_under_make_test_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser, "REQUIRED", False)
    with pytest.raises(pytest.skip.Exception, match=r"no-chromium \(apt-get install chromium\)"):
        require_browser()
    monkeypatch.setattr(browser, "REQUIRED", True)
    with pytest.raises(pytest.fail.Exception, match="make browser-setup installs them"):
        require_browser()
