"""Property tests: no input makes parse/validate/load crash, and every plan is consistent.

What is checked, for arbitrary text, random bytes, generated tasks.md files and
mutated real files:

* ``parse_text``/``parse_bytes``, ``validate_taskfile`` (every mode) and ``loads``
  raise nothing but ``ValidationError`` (and ``loads`` raises it exactly when
  validation reports an error);
* every diagnostic has a ``TX`` + 3 digits code, a message and a line that is
  None or a real line of the input;
* a plan's topological order, waves, critical path and ready/done tracker agree
  with its dependencies; a TX103 cycle path is made of real graph edges.
"""

from __future__ import annotations

import graphlib
import itertools
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import corpus_dir, corpus_files
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import taskexec_nb
from taskexec_nb import ActionKind, Severity, TaskState, ValidationError
from taskexec_nb.parse import TaskFile, parse_bytes, parse_text
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.validate import Validation, validate_taskfile

MODES = ("template", "stories", "explicit")
CODE_RE = re.compile(r"^TX\d{3}$")
CYCLE_RE = re.compile(r"dependency cycle: (?P<path>\S+(?: → \S+)+)")
BAD_BYTE_RE = re.compile(r"byte 0x(?P<byte>[0-9a-f]{2}) at offset (?P<offset>\d+)")
PATH = "<prop>"

CORPUS: list[Path] = corpus_files()
NO_CORPUS = f"corpus folder {corpus_dir()} is absent or has no .md files (set TASKEXEC_CORPUS)"
CORPUS_BYTES: dict[Path, bytes] = {p: p.read_bytes() for p in CORPUS}

# --- checks shared by every property -------------------------------------------------------


def line_count(text: str) -> int:
    """Lines of ``text`` as the parser numbers them (CRLF, CR and LF end a line).

    A final line ending ends the last line; it does not start an extra one, so
    a diagnostic may point at lines 1..line_count only (no +1 tolerance).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normal:
        return 0
    return normal.count("\n") + (0 if normal.endswith("\n") else 1)


def check_diagnostics(diags: Iterable[taskexec_nb.Diagnostic], n_lines: int) -> None:
    for d in diags:
        assert CODE_RE.match(d.code), f"bad code {d.code!r} in {d}"
        assert isinstance(d.severity, Severity), d
        assert isinstance(d.message, str), d
        assert d.message.strip(), f"empty message in {d}"
        assert d.file == PATH, d
        if d.line is not None:
            assert isinstance(d.line, int), d
            assert 1 <= d.line <= n_lines, (
                f"{d.code} line {d.line} outside 1..{n_lines}: {d.format()}"
            )


def note_event(text: str) -> None:
    """Count outcomes for --hypothesis-show-statistics (the corpus tests run outside hypothesis)."""
    if currently_in_test_context():
        event(text)


def check_cycles(result: Validation) -> None:
    """Every TX103 names a closed path whose consecutive pairs are real edges."""
    deps = result.graph.deps
    for d in result.diagnostics:
        if d.code != "TX103":
            continue
        m = CYCLE_RE.search(d.message)
        assert m, f"TX103 message has no 'A → B → A' path: {d.message!r}"
        path = m.group("path").split(" → ")
        assert len(path) >= 3, path
        assert path[0] == path[-1], f"cycle path is not closed: {path}"
        assert len(set(path[:-1])) == len(path) - 1, f"cycle path repeats a task: {path}"
        for a, b in itertools.pairwise(path):
            assert b in deps, f"{b} of cycle {path} is not a task"
            assert a in deps[b], f"cycle {path}: {b} does not depend on {a} ({deps[b]})"


def check_plan(plan: ExecutionPlan, rng: random.Random | None = None) -> None:
    ids = [t.id for t in plan.tasks]
    pending = {t.id for t in plan.tasks if t.state is TaskState.PENDING}
    assert set(plan.to_run) == pending

    # topological order: every task once, each after everything it waits for
    order = plan.topological_order()
    assert sorted(order) == sorted(ids), "topological order is not a permutation of the tasks"
    assert len(order) == len(set(order))
    position = {t: i for i, t in enumerate(order)}
    for t in ids:
        for d in plan.depends_on(t):
            assert d in position, f"{t} depends on {d}, which is not a task"
            assert position[d] < position[t], f"{d} comes after its dependent {t} in {order}"

    # waves: a partition of the pending tasks; a task waits only for earlier waves
    waves = plan.waves
    flat = [t for w in waves for t in w]
    assert sorted(flat) == sorted(pending), "waves are not a partition of the pending tasks"
    assert len(flat) == len(set(flat))
    assert all(waves), f"empty wave in {waves}"
    wave_of = {t: i for i, w in enumerate(waves) for t in w}
    before = ancestors(plan)
    for t in flat:
        for d in before[t]:  # through done and cancelled tasks too: their order holds
            if d in pending:
                assert wave_of[d] < wave_of[t], f"{t} (wave {wave_of[t]}) waits for {d}"

    # critical path: pending tasks, each directly waiting for the one before;
    # with unit durations it is as long as the longest chain, i.e. the number of waves
    path = plan.critical_path()
    assert len(path) == len(set(path))
    assert set(path) <= pending
    assert len(path) == len(waves), f"critical path {path} vs {len(waves)} waves"
    for a, b in itertools.pairwise(path):
        assert a in before[b], f"critical path {path}: {b} does not wait for {a}"
    effective = plan.effective_deps(pending)
    for t in pending:  # exactly the pending tasks it waits for, however far back
        assert set(effective[t]) <= before[t] & pending
        for d in before[t] & pending:
            assert d in effective[t] or any(d in before[e] for e in effective[t]), (t, d)

    check_tracker(plan, rng)


def ancestors(plan: ExecutionPlan) -> dict[str, set[str]]:
    """Every task each task waits for, directly or through others (done ones included)."""
    out: dict[str, set[str]] = {}
    for t in plan.topological_order():
        out[t] = set()
        for d in plan.depends_on(t):
            out[t] |= {d} | out[d]
    return out


def check_tracker(plan: ExecutionPlan, rng: random.Random | None) -> None:
    """Drive plan.tracker() to the end: every pending task once, after its pending deps."""
    pending = set(plan.to_run)
    before = ancestors(plan)
    tracker = plan.tracker()
    handed: list[str] = []
    finished: set[str] = set()
    running: list[str] = []
    for _ in range(2 * len(pending) + 2):
        if not tracker.is_active():
            break
        for t in tracker.get_ready():
            assert t in pending, f"tracker handed out {t}, which is not pending"
            assert t not in handed, f"tracker handed out {t} twice"
            waiting = [d for d in before[t] if d in pending and d not in finished]
            assert not waiting, f"{t} handed out before its dependencies {waiting} are done"
            handed.append(t)
            running.append(t)
        assert running, "tracker is active but nothing is ready or running (stuck)"
        # finish some of the running tasks, in an order hypothesis chooses
        if rng is not None:
            rng.shuffle(running)
            count = rng.randint(1, len(running))
        else:
            count = len(running)
        for t in running[:count]:
            assert tracker.done(t, ok=True) == []
            finished.add(t)
        del running[:count]
    assert not tracker.is_active(), "tracker still active after every task was done"
    assert sorted(handed) == sorted(pending), "tracker did not hand out every pending task"
    assert tracker.skipped == {}


def check_text(text: str, rng: random.Random | None = None) -> None:
    """Parse, validate (every mode) and load ``text``; check everything that must hold."""
    n_lines = line_count(text)
    tf = parse_text(text, PATH)
    assert isinstance(tf, TaskFile)
    check_diagnostics(tf.diagnostics, n_lines)
    check_taskfile(tf, n_lines, lambda mode: taskexec_nb.loads(text, mode, PATH), rng)


def check_taskfile(
    tf: TaskFile,
    n_lines: int,
    load: Callable[[str], ExecutionPlan],
    rng: random.Random | None,
) -> None:
    for mode in MODES:
        result = validate_taskfile(tf, mode)
        check_diagnostics(result.diagnostics, n_lines)
        assert set(tf.diagnostics) <= set(result.diagnostics)
        check_cycles(result)
        try:
            plan = load(mode)
        except ValidationError as exc:
            assert not result.ok, f"loads raised ValidationError but validation is ok ({mode})"
            assert exc.diagnostics == result.diagnostics
            assert exc.errors
            note_event(f"{mode}: errors {sorted({d.code for d in exc.errors})}")
            continue
        assert result.ok, f"loads built a plan despite errors {result.errors} ({mode})"
        assert plan.diagnostics == result.diagnostics
        assert [t.id for t in plan.tasks] == [t.id for t in tf.tasks]
        note_event(f"{mode}: plan")
        check_plan(plan, rng)


# --- strategies ----------------------------------------------------------------------------

COMMON_IDS = [f"T{i:03d}" for i in range(1, 10)]
ODD_IDS = ["T007a", "T011.5", "T-C001", "T-C002", "t003", "T1", "T0100", "T010", "T999"]
task_ids = st.one_of(
    st.sampled_from(COMMON_IDS),
    st.sampled_from(ODD_IDS),
    st.from_regex(r"T(?:-[A-Z]{1,2})?\d{1,4}(?:\.\d{1,2})?[a-z]?", fullmatch=True),
)

FRAGMENTS = [
    "- [ ] ",
    "- [x] ",
    "- [X] ",
    "- [~] ",
    "* [ ] ",
    "+ [ ] ",
    "1. [ ] ",
    "  - [ ] ",
    "    ",
    "- [x] **T002** [P] [US1] ",
    "- [ ] T001 ",
    "### T003 — ",
    "| T004 | x |",
    "| ID | Task | Depends on | Parallel |",
    "| --- | --- | --- | --- |",
    "| T005 | Do it | T001, T002 | [P] |",
    "(depends on T001, T009)",
    "(depends on ",
    "after ",
    "requires ",
    "blocked by ",
    " through ",
    "-",
    "–",
    ", ",
    "T001 → T002",
    " → ",
    " -> ",
    " before ",
    " must complete before ",
    " depends on ",
    "**Depends on**: ",
    "[P] ",
    "[US1] ",
    "[US2-NEW] ",
    "[CRITICAL] ",
    "**",
    "~~",
    "`src/models/user.py`",
    " src/app.py ",
    "notebooks/train.ipynb",
    "```bash",
    "```python",
    "```yaml",
    "```",
    "~~~",
    "<!-- ",
    " -->",
    "<!-- taskexec: cwd=src -->",
    "  - taskexec: timeout=5m",
    '  - taskexec: run="make docs" retries=2 backoff=1s',
    "  - taskexec: needs=gpu:1,cpu:2 env.EPOCHS=3 allow_failure=maybe",
    "  - taskexec: notebook=nb/a.ipynb param.x=1",
    "  - taskexec: callable=pkg.mod:fn",
    "  - taskexec: executor=agent",
    "  - taskexec: timout=5m",
    "taskexec: run='unclosed",
    'Task: "T001 Do a thing"',
    "## Phase 1: Setup",
    "## Phase 2: Foundational (Blocking Prerequisites)",
    "## Phase 3: User Story 1 - Login (Priority: P1)",
    "## Phase 3.1 User Story 2",
    "## Phase 4: Polish & Cross-Cutting Concerns",
    "## Dependencies & Execution Order",
    "### Critical path",
    "### Store layer (depends on T016)",
    "# Tasks",
    "---",
    "title: x",
    "> ",
    "\t",
    "中文任务 ",
    "T0",
    "\ufeff",
    "\x00",
    "\u2028",
    "\x0c",
    "\x85",
    " ",
    "",
]
NEWLINES = ["\n", "\n", "\n", "\r\n", "\r"]

pieces = st.one_of(
    st.sampled_from(FRAGMENTS),
    task_ids,
    task_ids.map(lambda i: i + " "),
    st.text(max_size=6),
)
TASK_STARTS = [
    "- [ ] ",
    "- [x] ",
    "- [X] ",
    "- [~] ",
    "* [ ] ",
    "+ [x] ",
    "1. [ ] ",
    "  - [ ] ",
    "- [ ] ~~",
    "- [ ] **",
    "- [x] **",
    "### ",
    "#### ",
    "| ",
]
free_line = st.lists(pieces, max_size=6).map("".join)
task_line = st.builds(
    lambda start, tid, rest: f"{start}{tid} {''.join(rest)}",
    st.sampled_from(TASK_STARTS),
    task_ids,
    st.lists(pieces, max_size=5),
)
md_line = st.one_of(free_line, task_line)


@st.composite
def markdownish(draw: st.DrawFn) -> str:
    lines = draw(st.lists(md_line, max_size=25))
    out = []
    for line in lines:
        out.append(line)
        out.append(draw(st.sampled_from(NEWLINES)))
    if out and draw(st.booleans()):
        out.pop()  # no final line ending
    return "".join(out)


PHASE_TITLES = [
    "Setup (Shared Infrastructure)",
    "Foundational (Blocking Prerequisites)",
    "User Story 1 - Sign in (Priority: P1)",
    "User Story 2 - Profile (Priority: P2)",
    "User Story 3 - Search",
    "Polish & Cross-Cutting Concerns",
    "Integration",
]
FILES = ["src/a.py", "src/b.py", "src/models/user.py", "tests/test_a.py", "docs/x.md"]
BODY_ACTIONS = {
    "": ActionKind.NONE,
    "run": ActionKind.COMMAND,
    "bash": ActionKind.SHELL,
    "python": ActionKind.PYTHON,
    "params": ActionKind.NONE,
}


@dataclass
class Generated:
    """A generated tasks.md and what it says about each task (the truth to parse back)."""

    text: str
    ids: list[str]
    states: dict[str, TaskState] = field(default_factory=dict)
    parallel: dict[str, bool] = field(default_factory=dict)
    stories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    actions: dict[str, ActionKind] = field(default_factory=dict)
    explicit: dict[str, set[str]] = field(default_factory=dict)


@st.composite
def tasks_files(draw: st.DrawFn) -> Generated:
    """A well-formed tasks.md: unique IDs, real phases, deps on existing tasks (some forward).

    Tasks are checkbox items or detail headings (``### T005 — ...``), with at
    most one action each; dependencies are written as phrases on the task, as
    label lines, and as statements in a dependencies section.
    """
    n = draw(st.integers(1, 14))
    numbers = sorted(draw(st.sets(st.integers(1, 60), min_size=n, max_size=n)))
    ids = [f"T{k:03d}" for k in numbers]
    gen = Generated("", ids, explicit={t: set() for t in ids})
    n_phases = draw(st.integers(0, 4))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=n_phases, max_size=n_phases)))
    lines = ["# Tasks: Generated", ""]
    phase_at = {cut: idx for idx, cut in enumerate(cuts)}  # later phases at one cut win
    for pos, tid in enumerate(ids):
        if pos in phase_at:
            title = draw(st.sampled_from(PHASE_TITLES))
            lines += ["", f"## Phase {phase_at[pos] + 1}: {title}", ""]
        box = draw(st.sampled_from([" ", " ", " ", " ", "x", "X", "~"]))
        form = "box" if box == "~" else draw(st.sampled_from(["box", "box", "box", "heading"]))
        parallel = draw(st.booleans())
        story = draw(st.sampled_from(["", "", "US1", "US2", "US3"]))
        tags = ("[P] " if parallel else "") + (f"[{story}] " if story else "")
        desc = f"Do step {pos} in {draw(st.sampled_from(FILES))}"
        others = st.integers(0, n - 2).map(lambda j, p=pos: j + (j >= p))  # any index but pos
        dep_idx = draw(st.lists(others, max_size=2)) if n > 1 else []
        names = ", ".join(ids[j] for j in dep_idx)
        dep_kind = draw(st.sampled_from(["paren", "after", "label"])) if dep_idx else ""
        dep_text = {"paren": f" (depends on {names})", "after": f" after {names}"}.get(dep_kind, "")
        if form == "heading":
            lines += [f"### {tid} — {tags}{desc}{dep_text}", ""]
        else:
            strike = "~~" if box == "~" else ""
            mark = " " if box == "~" else box
            lines.append(f"- [{mark}] {strike}{tid} {tags}{desc}{dep_text}{strike}")
        if dep_kind == "label":
            lines.append(f"  - **Depends on**: {names}")
        body = draw(st.sampled_from(["", "", "run", "bash", "python", "params"]))
        if body == "run":
            lines.append('  - taskexec: run="make step" timeout=5m')
        elif body == "bash":
            lines += ["  ```bash", f"  echo {tid}", "  ```"]
        elif body == "python":
            lines += ["  ```python", f"  print({tid!r})", "  ```"]
        elif body == "params":
            lines.append("  <!-- taskexec: retries=1 backoff=2s -->")
        gen.states[tid] = (
            TaskState.CANCELLED
            if box == "~"
            else TaskState.DONE
            if box in "xX" and form == "box"  # a heading has no checkbox
            else TaskState.PENDING
        )
        gen.parallel[tid] = parallel
        gen.stories[tid] = (story,) if story else ()
        gen.actions[tid] = BODY_ACTIONS[body]
        gen.explicit[tid].update(ids[j] for j in dep_idx)
    if draw(st.booleans()):
        lines += ["", "## Dependencies & Execution Order", ""]
        for _ in range(draw(st.integers(1, 4))):
            a, b = ids[draw(st.integers(0, n - 1))], ids[draw(st.integers(0, n - 1))]
            shape = draw(st.sampled_from(["before", "arrow", "depends"]))
            if shape == "before":
                lines.append(f"- {a} before {b}")
            elif shape == "arrow":
                lines.append(f"- {a} → {b}")
            else:
                lines.append(f"- {b} depends on {a}")
            if a != b:
                gen.explicit[b].add(a)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    gen.text = newline.join(lines) + newline
    return gen


# --- 1. arbitrary text ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_arbitrary_text_never_crashes(text: str) -> None:
    check_text(text)


@settings(max_examples=250, deadline=None)
@given(markdownish(), st.randoms(use_true_random=False))
def test_markdownish_text_never_crashes(text: str, rng: random.Random) -> None:
    check_text(text, rng)


# --- 2. random bytes ------------------------------------------------------------------------

byte_chunks = st.one_of(
    st.binary(max_size=8),
    st.sampled_from([b"\n", b"\r\n", b"\r", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xe4\xb8"]),
    st.sampled_from(FRAGMENTS).map(lambda s: s.encode("utf-8")),
)


def first_bad_byte(data: bytes) -> int | None:
    """Offset in ``data`` of the first byte that is not UTF-8 (after a BOM), or None."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return start + exc.start
    return None


def expected_bad_line(data: bytes) -> int | None:
    """1-based line (in the parser's numbering) of the first undecodable byte, or None."""
    offset = first_bad_byte(data)
    if offset is None:
        return None
    prefix = data[:offset].decode("utf-8-sig")
    return prefix.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1


def check_bytes(data: bytes) -> TaskFile:
    """parse_bytes never raises; undecodable input gives exactly one TX002 error."""
    tf = parse_bytes(data, PATH)
    assert isinstance(tf, TaskFile)
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if expected_bad_line(data) is None and not utf16:
        text = data.decode("utf-8-sig")
        assert not any(d.code == "TX002" for d in tf.diagnostics)
        assert tf.bom == data.startswith(b"\xef\xbb\xbf")
        check_diagnostics(tf.diagnostics, line_count(text))
        return tf
    tx002 = [d for d in tf.diagnostics if d.code == "TX002"]
    assert len(tx002) == 1, f"undecodable input without one TX002: {tf.diagnostics}"
    assert tx002[0].is_error
    assert tf.tasks == ()
    # any line numbering: LF, CR and CRLF each end a line at most once
    check_diagnostics(tf.diagnostics, data.count(b"\n") + data.count(b"\r") + 1)
    return tf


@settings(max_examples=150, deadline=None)
@given(st.binary())
def test_random_bytes_never_crash(data: bytes) -> None:
    check_bytes(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(byte_chunks, max_size=20).map(b"".join))
def test_chunked_bytes_never_crash(data: bytes) -> None:
    check_bytes(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(byte_chunks, max_size=20).map(b"".join))
@example(b"\xef\xbb\xbfa\n\xff")  # BOM: offset, byte and line must skip the 3 BOM bytes
@example(b"a\r\xff")  # a lone CR ends a line, as everywhere else in the parser
def test_tx002_names_the_first_bad_byte(data: bytes) -> None:
    """README: TX002 gives "the line of the first bad byte" (in the parser's line numbering)."""
    bad_line = expected_bad_line(data)
    if bad_line is None or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # decodable, or UTF-16 (reported at line 1 without a byte)
    diag = next(d for d in check_bytes(data).diagnostics if d.code == "TX002")
    # The message names the byte and its offset: they must be the first bad byte's.
    m = BAD_BYTE_RE.search(diag.message)
    assert m, diag.message
    first = first_bad_byte(data)
    assert first is not None
    named = (int(m.group("offset")), int(m.group("byte"), 16))
    assert named == (first, data[first]), (
        f"{diag.message!r}: the first bad byte is 0x{data[first]:02x} at offset {first}"
    )
    assert diag.line == bad_line, f"TX002 at line {diag.line}, first bad byte is on {bad_line}"


def test_non_utf8_is_tx002() -> None:
    for data in (b"- [ ] T001 caf\xe9\n", b"\xff\xfe- \x00", b"ok\n\xc3\x28"):
        tf = parse_bytes(data, PATH)
        assert [d.code for d in tf.diagnostics] == ["TX002"], data
        assert tf.diagnostics[0].is_error


# --- 3. mutated real files ------------------------------------------------------------------


def _split_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


@st.composite
def mutated_corpus(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(CORPUS))
    data = CORPUS_BYTES[path]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate", "flip"]))
        lines = _split_lines(data)
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            frag = draw(st.one_of(md_line, st.sampled_from(FRAGMENTS)))
            nl = draw(st.sampled_from(["\n", "\r\n", ""]))
            lines.insert(i, (frag + nl).encode("utf-8"))
        data = b"".join(lines)
        if op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "flip" and data:
            k = draw(st.integers(0, len(data) - 1))
            data = data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1 :]
    return path.name, data


@pytest.mark.skipif(not CORPUS, reason=NO_CORPUS)
@settings(max_examples=120, deadline=None)
@given(mutated_corpus(), st.randoms(use_true_random=False))
def test_mutated_corpus_files_never_crash(case: tuple[str, bytes], rng: random.Random) -> None:
    _name, data = case
    check_bytes(data)
    if expected_bad_line(data) is None and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        check_text(data.decode("utf-8-sig"), rng)


# --- 4 and 5. plans of generated and real files ---------------------------------------------


@settings(max_examples=200, deadline=None)
@given(tasks_files(), st.randoms(use_true_random=False))
def test_generated_tasks_files_plan_consistently(gen: Generated, rng: random.Random) -> None:
    check_text(gen.text, rng)


def has_cycle(deps: dict[str, set[str]]) -> bool:
    try:
        graphlib.TopologicalSorter(deps).prepare()
    except graphlib.CycleError:
        return True
    return False


HEADING_THEN_FENCED_TASK = Generated(
    "# Tasks\n\n### T001 — Do A\n\n- [ ] T002 Do B\n  ```bash\n  echo T002\n  ```\n",
    ["T001", "T002"],
    states=dict.fromkeys(["T001", "T002"], TaskState.PENDING),
    parallel=dict.fromkeys(["T001", "T002"], False),
    stories=dict.fromkeys(["T001", "T002"], ()),
    actions={"T001": ActionKind.NONE, "T002": ActionKind.SHELL},
    explicit={"T001": set(), "T002": set()},
)


@settings(max_examples=150, deadline=None)
@given(tasks_files())
@example(HEADING_THEN_FENCED_TASK)  # T002's bash block is T002's action, not T001's too
def test_generated_tasks_files_parse_as_written(gen: Generated) -> None:
    """Each task of a well-formed file reads back as written: state, tags, action, deps."""
    tf = parse_text(gen.text, PATH)
    assert list(tf.ids) == gen.ids
    for task in tf.tasks:
        tid = task.id
        assert task.state is gen.states[tid], tid
        assert task.parallel == gen.parallel[tid], tid
        assert task.stories == gen.stories[tid], tid
        assert task.action.kind is gen.actions[tid], (
            f"{tid} should have action {gen.actions[tid].value}, got {task.action}"
        )
    for mode in MODES:
        result = validate_taskfile(tf, mode)
        assert {t: set(d) for t, d in result.graph.explicit.items()} == gen.explicit, mode
        codes = {d.code for d in result.errors}
        assert codes <= {"TX103"}, f"{mode}: unexpected errors {result.errors}"
        # Only stated edges make a cycle, in every mode: an inferred edge (file or phase
        # order) that would close one with stated edges is dropped.
        assert ("TX103" in codes) == has_cycle(gen.explicit), (mode, result.errors)


CORPUS_PARAMS = [pytest.param(p, id=p.stem) for p in CORPUS] or [
    pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=NO_CORPUS))
]


@pytest.mark.parametrize("path", CORPUS_PARAMS)
def test_corpus_file_plans_consistently(path: Path) -> None:
    data = CORPUS_BYTES[path]
    if any(d.code == "TX002" for d in check_bytes(data).diagnostics):
        pytest.skip(f"{path.name} is not UTF-8: only its TX002 diagnostic was checked")
    text = data.decode("utf-8-sig")
    check_text(text, random.Random(0))
    check_text(text)  # finish every ready task at once too


@pytest.mark.skipif(not CORPUS, reason=NO_CORPUS)
def test_corpus_plan_checks_are_not_vacuous() -> None:
    """The plan and tracker checks above really ran: some corpus files build a plan."""
    planned = [
        p.name
        for p in CORPUS
        if validate_taskfile(parse_text(CORPUS_BYTES[p].decode("utf-8-sig"), PATH)).ok
    ]
    assert planned, "no corpus file validates in template mode, so no plan was checked"
