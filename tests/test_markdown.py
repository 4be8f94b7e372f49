"""The parser's markdown-it shortcuts (first-character guards, one dispatch) change nothing.

They only skip rule calls that would fail; these tests compare every token
with the same configuration run without them.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import FIXTURES, ROOT, corpus_files
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from taskexec_nb.markdown import parser_markdown

sys.path.insert(0, str(ROOT / "benchmarks"))
from generate import generate_tasks_md

TRICKY = [
    "- [ ] T001 a\n---\n- - -\n***\n_ _ _\n* * *\n-\n--\n- [x] T002\n",
    "> - [ ] T001 quoted\n> ```bash\n> echo\n> ```\n\n<!-- - [ ] T002 -->\n# H\n## Phase 1: X\n",
    "| a | b |\n|---|---|\n| T001 | x |\n\n|x\n-|-\n1. [ ] T003\n2) [ ] T004\n+ [ ] T005\n",
    "---\ntitle: x\n---\n~~~python\nprint()\n~~~\n    indented\n\tTab\n#nospace\n####### seven\n",
    "para\n===\npara\n---\n[ref]: http://x\n<div>\n- [ ] T009\n</div>\n",
]


def _plain(front_matter: bool) -> Any:
    md = MarkdownIt("commonmark").enable("table")
    if front_matter:
        md.use(front_matter_plugin)
    md.disable(["inline", "code", "reference", "lheading"])
    return md


def _stream(md: Any, text: str) -> list[tuple[Any, ...]]:
    return [(t.type, t.map, t.level, t.info, t.markup, t.content) for t in md.parse(text)]


def _texts() -> list[tuple[str, str]]:
    texts = [(f"tricky{i}", t) for i, t in enumerate(TRICKY)]
    texts += [(p.name, p.read_text(encoding="utf-8-sig")) for p in sorted(FIXTURES.glob("*.md"))]
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in corpus_files()]
    texts.append(("generated", generate_tasks_md(300, seed=3)))
    return texts


@pytest.mark.parametrize(("name", "text"), _texts(), ids=lambda v: v if len(v) < 60 else "")
@pytest.mark.parametrize("front_matter", [True, False])
def test_same_tokens_as_without_the_shortcuts(name: str, text: str, front_matter: bool) -> None:
    text = text.replace("\r\n", "\n")
    assert _stream(parser_markdown(front_matter), text) == _stream(_plain(front_matter), text), name
