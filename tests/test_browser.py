"""The quickstart notebook in a real JupyterLab, in headless Debian chromium (Playwright).

JupyterLab serves a copy of notebooks/ and examples/ on loopback; the quickstart is
opened and run once for the module, then each test checks one thing on that page:
no cell failed, a screenshot is saved (build/artifacts/), axe-core finds no WCAG 2.1
AA violation in the outputs, every figure has an accessible name. The machinery is in
tests/browser.py. Under ``make test`` a missing chromium or axe-core fails the tests
(``TASKEXEC_BROWSER_REQUIRED=1``); elsewhere they are skipped with the reason.
"""

from __future__ import annotations

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
    run_all,
    screenshot,
)

QUICKSTART = "notebooks/quickstart.ipynb"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The quickstart open in JupyterLab, every cell run."""
    require_browser()
    root = lab_root(tmp_path_factory.mktemp("lab"))
    with open_lab(root, QUICKSTART, tmp_path_factory.mktemp("lab-scratch")) as page:
        run_all(page)
        yield page


def test_the_quickstart_runs_every_cell_without_an_error(quickstart: Any) -> None:
    assert cell_errors(quickstart) == []
    shot = screenshot(quickstart, "quickstart")
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_outputs_have_no_wcag_21_aa_violation(quickstart: Any) -> None:
    result = axe_scan(quickstart)
    assert "error" not in result, result
    assert result["passes"] > 0
    assert result["violations"] == []


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
