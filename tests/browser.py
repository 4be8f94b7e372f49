"""Real-browser helpers: JupyterLab on loopback, driven in headless Debian chromium by Playwright.

The one place the browser tests' machinery lives (tests/test_browser.py uses it):

* :func:`require_browser` - what the test needs (chromium, axe-core, Playwright,
  JupyterLab), skipping with the reason when something is missing, or failing under
  ``make test`` (``TASKEXEC_BROWSER_REQUIRED=1``, set by the Makefile, which installs
  them with ``make browser-setup``);
* :func:`lab_root` - a copy of notebooks/ and examples/ to serve;
* :class:`LabServer` - ``jupyter lab`` on a free 127.0.0.1 port with a random token, a
  root folder of the test's own, throw-away settings (no autosave, no news, every cell
  rendered), stopped with the kernels it started;
* :func:`open_lab` - the server, chromium (``executable_path``, never Playwright's own
  browser download) and a page with a notebook open and its kernel idle;
* :func:`run_all`, :func:`cell_errors`, :func:`click`, :func:`wait_for_text`,
  :func:`axe_scan`, :func:`figure_names`, :func:`screenshot` - what a test does on it.

The page can reach only 127.0.0.1: every other host name fails to resolve.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Read once, at import: tests/conftest.py hides TASKEXEC_* variables from each test.
CHROMIUM = Path(os.environ.get("TASKEXEC_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("TASKEXEC_BROWSER_REQUIRED") == "1"
"""Whether a missing browser fails the test (``make test``) instead of skipping it."""
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "build" / "artifacts"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
OUTPUTS = ".jp-OutputArea-output"
"""Cell outputs: what axe scans (JupyterLab's own interface is not ours to fix)."""
PLOTLY = ".jp-OutputArea-output.js-plotly-plot"
"""A plotly figure in JupyterLab: one element with both classes."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def require_browser() -> None:
    """Skip (or fail, under ``make test``) unless a real-browser test can run here.

    Raises:
        pytest.fail.Exception: With ``TASKEXEC_BROWSER_REQUIRED=1`` (:data:`REQUIRED`) and
            something missing.
        pytest.skip.Exception: Without it and something missing.
    """
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not AXE.is_file():
        missing.append(f"{AXE.relative_to(ROOT)} (npm ci)")
    for module, package in (("playwright.sync_api", "playwright"), ("jupyterlab", "jupyterlab")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the {package} package (pip install -e '.[dev]')")
    if not missing:
        return
    reason = "the browser test needs " + ", ".join(missing) + "; make browser-setup installs them"
    if REQUIRED:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def lab_root(folder: Path) -> Path:
    """A copy of notebooks/ and examples/ for JupyterLab to serve (the notebooks read
    ``../examples``, and a run in the browser must not touch the repository).

    Args:
        folder: An empty folder of the test's own.

    Returns:
        ``folder``, holding ``notebooks/`` (links copied as files) and ``examples/``.
    """
    shutil.copytree(ROOT / "notebooks", folder / "notebooks", symlinks=False)
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``jupyter lab`` serving ``root`` on loopback, in its own process group.

    Args:
        root: The folder it serves (the notebooks are opened relative to it).
        scratch: A folder for its settings, workspaces, checkpoints and log.
        timeout: Seconds to wait for it to answer.
    """

    def __init__(self, root: Path, scratch: Path, timeout: float = 120.0) -> None:
        self.root, self.scratch, self.timeout = root, scratch, timeout
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        settings = scratch / "user-settings"
        for key, value in LAB_SETTINGS.items():
            path = settings / f"{key}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [
            str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
            f"--port={self.port}", "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
            f"--FileCheckpoints.checkpoint_dir={scratch / 'checkpoints'}",
        ]  # fmt: skip
        # The kernels see no TASKEXEC_* variable of the test run (a run would read them).
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKEXEC_")}
        env["JUPYTER_RUNTIME_DIR"] = str(scratch / "runtime")
        self.log_path = scratch / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        """Wait until the server answers.

        Raises:
            RuntimeError: If it exits or does not answer in time (with its log's tail).
        """
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not answer in {self.timeout} s:\n{self.log_tail()}")

    def url(self, notebook: str) -> str:
        """The address that opens ``notebook`` (relative to the root) in JupyterLab.

        Args:
            notebook: The notebook's path under the root, e.g. ``notebooks/quickstart.ipynb``.

        Returns:
            The URL, with the token.
        """
        return f"{self.base}/lab/tree/{urllib.parse.quote(notebook)}?reset&token={self.token}"

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log.

        Args:
            lines: How many lines.

        Returns:
            The text.
        """
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Shut the server down with its kernels (killing what is left after 10 s)."""
        if self.proc.poll() is None:
            kernels = _children(self.proc.pid)
            try:
                request = urllib.request.Request(
                    f"{self.base}/api/shutdown?token={self.token}", method="POST", data=b""
                )
                urllib.request.urlopen(request, timeout=5)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            for pid in kernels:  # kernels run in sessions of their own: only the ones it started
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


def _children(pid: int) -> list[int]:
    """The processes under ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        todo += kids
    return found


JS_KERNEL_IDLE = """() => { const d = document.querySelector('.jp-Dialog');
  if (d) throw new Error('JupyterLab dialog: ' + d.innerText.replace(/\\s+/g, ' ').slice(0, 300));
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }"""

JS_RUN = """([cmd, active]) => { window.__te_done = null;
  const nb = window.jupyterapp.shell.currentWidget.content;
  if (active !== null) nb.activeCellIndex = active < 0 ? nb.widgets.length + active : active;
  window.jupyterapp.commands.execute(cmd)
    .then(r => { window.__te_done = {ok: r}; }, e => { window.__te_done = {err: String(e)}; }); }"""

JS_CELL_ERRORS = """() => { const errs = [];
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue;
    for (let j = 0; j < c.outputs.length; j++) { const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') errs.push({cell: i, ename: o.ename, evalue: o.evalue}); } }
  return errs; }"""

JS_AXE = """async ([sel, tags]) => {
  if (!document.querySelector(sel)) return {error: 'axe: the selector matched nothing: ' + sel};
  const r = await axe.run({include: [[sel]]}, {runOnly: {type: 'tag', values: tags}});
  const brief = v => ({id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                          summary: (n.failureSummary || '').slice(0, 300)}))});
  return {violations: r.violations.map(brief), passes: r.passes.length,
          version: r.testEngine.version}; }"""

JS_NAMES = """(sel) => { axe.setup(document);  // axe's tree, which its name computation reads
  const NAMED = ['img', 'figure', 'region', 'group', 'document', 'graphics-document'];
  const named = e => NAMED.includes(e.getAttribute('role')) || e.tagName === 'FIGURE'
    || e.hasAttribute('aria-label') || e.hasAttribute('aria-labelledby');
  try { return [...document.querySelectorAll(sel)].map(el => {
    // Where an author name can be: the figure, an element wrapping it in its output, or an
    // element inside it (not the mode bar's buttons). A plain div's text is no name.
    const places = [];
    for (let e = el; e; e = e.parentElement) {
      places.push(e);
      if (e.classList.contains('jp-OutputArea-child')) break;
    }
    places.push(...el.querySelectorAll('[role], [aria-label], [aria-labelledby], figure'));
    for (const e of places.filter(named)) {
      if (e.closest('.modebar-container')) continue;
      const name = axe.commons.text.accessibleText(e).trim();
      if (name) return name;
    }
    return null; });
  } finally { axe.teardown(); } }"""


@contextmanager
def open_lab(root: Path, notebook: str, scratch: Path, timeout: float = 120.0) -> Iterator[Any]:
    """JupyterLab serving ``root``, chromium showing ``notebook`` with its kernel idle.

    Args:
        root: The folder served (a copy of the notebooks and examples, as they are read).
        notebook: The notebook to open, relative to ``root``.
        scratch: A folder for the server's settings and log.
        timeout: Seconds each wait may take.

    Yields:
        The Playwright page, with axe-core loaded; closed, with the browser and the
        server, on the way out (also on failure, when the end of the server's log is
        written to stderr).
    """
    from playwright.sync_api import sync_playwright

    server = LabServer(root, scratch, timeout)
    try:
        server.wait_ready()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(timeout * 1000)
                page.goto(server.url(notebook))
                page.wait_for_function(JS_KERNEL_IDLE, polling=100)
                page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
                page.add_script_tag(path=str(AXE))
                yield page
            finally:
                browser.close()
    except BaseException:
        sys.stderr.write(f"jupyter lab's log (the end):\n{server.log_tail()}")
        raise
    finally:
        server.stop()


def run_all(page: Any) -> None:
    """Run every cell, and wait until the last has run and the kernel is idle.

    Args:
        page: The page (of :func:`open_lab`).
    """
    run_cells(page, "notebook:run-all-cells")


def run_cells(page: Any, command: str, active: int | None = None) -> None:
    """Run cells with one of JupyterLab's commands; wait until they ran and the kernel idles.

    Args:
        page: The page (of :func:`open_lab`).
        command: ``notebook:run-all-cells``, ``notebook:run-all-above`` (the cells
            above the active one), ``notebook:run-cell`` (the active one)...
        active: The cell to make active first (negative counts from the end), or
            None to leave it.

    Raises:
        RuntimeError: If the command failed.
    """
    page.evaluate(JS_RUN, [command, active])
    done = page.wait_for_function("() => window.__te_done", polling=100).json_value()
    if "err" in done:
        raise RuntimeError(f"{command} failed: {done['err']}")
    page.wait_for_function(JS_KERNEL_IDLE, polling=100)


def cell_errors(page: Any) -> list[dict[str, Any]]:
    """The error outputs of the notebook's code cells.

    Args:
        page: The page.

    Returns:
        One ``{cell, ename, evalue}`` per error output.
    """
    return list(page.evaluate(JS_CELL_ERRORS))


def click(page: Any, selector: str) -> None:
    """Click the first element ``selector`` matches, once it is visible.

    Args:
        page: The page.
        selector: A CSS selector (or any Playwright selector, e.g. ``text=Pause``).
    """
    page.locator(selector).first.click()


def wait_for_text(page: Any, selector: str, text: str, timeout: float | None = None) -> None:
    """Wait until an element ``selector`` matches shows ``text``.

    Args:
        page: The page.
        selector: A CSS selector.
        text: The text to find in one element's ``innerText``.
        timeout: Seconds (default: the page's).
    """
    page.wait_for_function(
        "([s, t]) => [...document.querySelectorAll(s)].some(e => e.innerText.includes(t))",
        arg=[selector, text],
        polling=100,
        **({"timeout": timeout * 1000} if timeout is not None else {}),
    )


def axe_scan(page: Any, selector: str = OUTPUTS, tags: list[str] | None = None) -> dict[str, Any]:
    """Run axe-core on what ``selector`` matches.

    Args:
        page: The page (axe-core is loaded by :func:`open_lab`).
        selector: What to scan (default: every cell output).
        tags: The rules' tags (default: WCAG 2.1 A and AA).

    Returns:
        ``violations`` (id, impact, help, count, first nodes), ``passes`` (how many
        rules passed) and axe's ``version``; ``error`` when the selector matched nothing.
    """
    return dict(page.evaluate(JS_AXE, [selector, tags or WCAG_21_AA]))


def figure_names(page: Any, selector: str = PLOTLY) -> list[str | None]:
    """The accessible name of each plotly figure (axe-core's computation).

    The name is looked for where an author gives one: an ``aria-label`` or
    ``aria-labelledby``, a ``<figure>`` (its caption), or a role that takes a name from
    the author (``img``, ``figure``, ``region``...), on the figure, around it within its
    output, or inside it; the text of the plot's own buttons does not count.

    Args:
        page: The page.
        selector: The figures.

    Returns:
        One name per figure, in page order; None for a figure with none.
    """
    return list(page.evaluate(JS_NAMES, selector))


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under build/artifacts/.

    Args:
        page: The page.
        name: The file's name, without ``.png``.

    Returns:
        The PNG's path.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
