"""Execute the notebooks in place, keeping their outputs: the reference nbval checks.

``make test`` runs ``pytest --nbval notebooks``, which compares each cell's new
output with the output stored in the notebook (after notebooks/nbval_sanitize.cfg
has replaced times, run IDs, paths and durations). When a change of the package
changes what a notebook shows on purpose, run ``make notebooks`` (this script),
look at the diff, and commit the notebooks with the change.

Usage: python scripts/refresh_notebooks.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def refresh(path: Path) -> None:
    # The kernel runs in the notebook's own folder, as nbval runs it; a link
    # (notebooks/report.ipynb) runs there too, and its target is rewritten.
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # run times: noise in the diff
    nbformat.write(nb, path.resolve())
    print(f"refreshed {path}")


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        refresh(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
