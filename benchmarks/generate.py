"""Generate realistic spec-kit tasks.md files of any size, for benchmarks.

The output follows spec-kit's tasks template: front matter, a title, a Format
section, ``## Phase 1: Setup``, ``## Phase 2: Foundational (Blocking
Prerequisites)``, one phase per user story, ``## Phase M: Polish & Cross-Cutting
Concerns``, a "Dependencies & Execution Order" section (with explicit statements
and "Parallel Example" blocks) and an implementation strategy.

Tasks mix ``[P]`` and sequential tasks, checked boxes, ``(depends on ...)``
references to earlier tasks only, nested ```` ```bash ```` blocks,
``taskexec:`` sub-bullets and descriptions wrapped over two lines. The same
``(n_tasks, seed)`` always gives the same text, and the text has no
error-severity diagnostics in any dependency mode.

Usage::

    python benchmarks/generate.py 10000 -o big.md [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ENTITIES = (
    "user",
    "account",
    "invoice",
    "order",
    "payment",
    "product",
    "catalog",
    "cart",
    "shipment",
    "review",
    "session",
    "report",
    "notification",
    "webhook",
    "tenant",
    "project",
    "comment",
    "attachment",
    "audit_event",
    "subscription",
)
_STORY_VERBS = (
    "Manage",
    "Browse",
    "Export",
    "Import",
    "Search",
    "Review",
    "Share",
    "Archive",
    "Track",
    "Approve",
)
_SETUP = (
    ("Create project structure per implementation plan in {pkg}/__init__.py", False),
    ("Initialize Python project with FastAPI dependencies in pyproject_{n}.toml", False),
    ("Configure linting and formatting tools in config/ruff_{n}.toml", True),
    ("Add pre-commit hooks in config/pre_commit_{n}.yaml", True),
    ("Set up CI workflow in .github/workflows/ci_{n}.yml", True),
    ("Add Docker development environment in docker/dev_{n}.yml", True),
)
_FOUNDATION = (
    ("Setup database schema and migrations framework in src/db/migrations_{n}.py", False),
    ("Implement authentication middleware in src/middleware/auth_{n}.py", True),
    ("Setup API routing and middleware structure in src/api/router_{n}.py", False),
    ("Create base {entity} model shared by all stories in src/models/base_{n}.py", True),
    ("Configure error handling and logging infrastructure in src/lib/errors_{n}.py", True),
    ("Setup environment configuration management in src/config/settings_{n}.py", True),
)
_TESTS = (
    "Contract test for the create-{entity} endpoint in tests/contract/test_{entity}_{n}.py",
    "Contract test for the list-{entity} endpoint in tests/contract/test_{entity}_list_{n}.py",
    "Integration test for the {entity} journey in tests/integration/test_{entity}_{n}.py",
    "Unit tests for {entity} validation rules in tests/unit/test_{entity}_rules_{n}.py",
)
_IMPLEMENTATION = (
    ("Create {Entity} model in src/models/{entity}_{n}.py", True),
    ("Implement {Entity}Service in src/services/{entity}_service_{n}.py", False),
    ("Implement the create-{entity} endpoint in src/api/{entity}_{n}.py", False),
    (
        "Add validation and error handling for {entity} input in src/api/{entity}_errors_{n}.py",
        False,
    ),
    ("Add logging for {entity} operations in src/lib/{entity}_logging_{n}.py", True),
    ("Create {entity} list view in frontend/src/pages/{Entity}List{n}.tsx", True),
    ("Add {entity} repository queries in src/repositories/{entity}_repo_{n}.py", True),
)
_POLISH = (
    ("Documentation updates in docs/{entity}_{n}.md", True),
    ("Code cleanup and refactoring in src/services/{entity}_service_{n}.py", False),
    ("Performance optimization across {entity} queries in src/repositories/perf_{n}.py", False),
    ("Additional unit tests in tests/unit/test_{entity}_extra_{n}.py", True),
    ("Security hardening of {entity} endpoints in src/api/security_{n}.py", False),
    ("Run quickstart.md validation in scripts/quickstart_check_{n}.sh", False),
)
_WRAP_TAILS = (
    "so that it handles pagination, filtering and the empty case",
    "and wire it into the application factory with sensible defaults",
    "keeping the public interface unchanged for existing callers",
    "including the edge cases listed in the specification",
)
_PY_CHECKS = ("python -m compileall -q {path}", "ruff check {path}")
_TIMEOUTS = ("30s", "2m", "5m", "10m", "1h")


@dataclass(frozen=True)
class _PhaseSpec:
    kind: str  # setup, foundational, story or polish
    size: int
    story: int = 0  # user story number for story phases


def _sizes(n_tasks: int, n_stories: int, rng: random.Random) -> list[_PhaseSpec]:
    """Split ``n_tasks`` between setup, foundational, story phases and polish."""
    if n_tasks < 4:
        return [_PhaseSpec("setup", n_tasks)]
    setup = max(1, round(n_tasks * 0.03))
    found = max(1, round(n_tasks * 0.07))
    polish = max(1, round(n_tasks * 0.05))
    rest = n_tasks - setup - found - polish
    n_stories = max(1, min(n_stories, rest))
    story_sizes = [1] * n_stories
    weights = [rng.uniform(0.5, 1.5) for _ in range(n_stories)]
    for k in rng.choices(range(n_stories), weights=weights, k=rest - n_stories):
        story_sizes[k] += 1
    return [
        _PhaseSpec("setup", setup),
        _PhaseSpec("foundational", found),
        *(_PhaseSpec("story", size, k + 1) for k, size in enumerate(story_sizes)),
        _PhaseSpec("polish", polish),
    ]


class _Writer:
    """Accumulates the document and remembers what the later sections refer to."""

    def __init__(self, n_tasks: int, rng: random.Random) -> None:
        self.rng = rng
        self.n_tasks = n_tasks
        self.width = max(3, len(str(n_tasks)))
        self.out: list[str] = []
        self.next_number = 1
        self.parallel_examples: dict[int, list[str]] = {}

    def tid(self, number: int) -> str:
        return f"T{number:0{self.width}d}"

    def line(self, text: str = "") -> None:
        self.out.append(text)

    def task(
        self,
        description: str,
        *,
        parallel: bool,
        story: int = 0,
        shell_hint: str = "src",
    ) -> None:
        """Write one task item and its optional body (annotation, shell block)."""
        rng = self.rng
        number = self.next_number
        self.next_number += 1
        done = rng.random() < 0.02 + 0.3 * (1 - number / self.n_tasks)
        box = ("X" if rng.random() < 0.1 else "x") if done else " "
        tags = ("[P] " if parallel else "") + (f"[US{story}] " if story else "")
        wrapped = rng.random() < 0.08
        if number > 5 and rng.random() < 0.12:
            lo = max(1, number - 60)
            picks = sorted(rng.sample(range(lo, number), k=min(rng.randint(1, 3), number - lo)))
            refs = ", ".join(self.tid(p) for p in picks)
            deps = f" (depends on {refs})"
        else:
            deps = ""
        if wrapped:
            self.line(f"- [{box}] {self.tid(number)} {tags}{description}")
            self.line(f"  {rng.choice(_WRAP_TAILS)}{deps}")
        else:
            self.line(f"- [{box}] {self.tid(number)} {tags}{description}{deps}")
        roll = rng.random()
        if roll < 0.10:
            retries = rng.randint(0, 2)
            self.line(f"  - taskexec: timeout={rng.choice(_TIMEOUTS)} retries={retries}")
        elif roll < 0.13:
            self.line(f'  - taskexec: run="make check-{number}" timeout=5m')
            return
        if rng.random() < 0.10:
            self.line("  ```bash")
            self.line(f"  {_check_command(shell_hint, rng)}")
            self.line("  ```")


def _fill(template: str, entity: str, number: int) -> str:
    return template.format(
        entity=entity,
        Entity=entity.title().replace("_", ""),
        n=number,
        pkg=f"src/pkg_{number}",
    )


def _check_command(path: str, rng: random.Random) -> str:
    """A plausible shell check for the file a task names."""
    if path.startswith("tests/"):
        return f"pytest {path} -q"
    if path.endswith(".py"):
        return rng.choice(_PY_CHECKS).format(path=path)
    return f"test -s {path}"


def _path_of(description: str) -> str:
    return description.rsplit(" ", 1)[-1]


def _write_header(w: _Writer, n_stories: int) -> None:
    w.line("---")
    w.line('description: "Task list for the generated benchmark feature"')
    w.line("---")
    w.line()
    w.line("# Tasks: Generated Benchmark Feature")
    w.line()
    w.line("**Input**: Design documents from `/specs/001-benchmark-feature/`")
    w.line(
        "**Prerequisites**: plan.md (required), spec.md (required for user stories), "
        "research.md, data-model.md, contracts/"
    )
    w.line()
    w.line("**Tests**: Test tasks are included because the feature specification asks for them.")
    w.line()
    w.line(
        f"**Organization**: Tasks are grouped by user story ({n_stories} in all) so that each "
        "story can be implemented and tested independently."
    )
    w.line()
    w.line("## Format: `[ID] [P?] [Story] Description`")
    w.line()
    w.line("- **[P]**: Can run in parallel (different files, no dependencies)")
    w.line("- **[Story]**: Which user story this task belongs to (e.g., US1, US2, US3)")
    w.line("- Include exact file paths in descriptions")
    w.line()
    w.line("## Path Conventions")
    w.line()
    w.line("- **Single project**: `src/`, `tests/` at repository root")
    w.line("- **Web app**: `backend/src/`, `frontend/src/`")
    w.line()


def _write_simple_phase(w: _Writer, spec: _PhaseSpec, number: int) -> None:
    rng = w.rng
    if spec.kind == "setup":
        w.line(f"## Phase {number}: Setup (Shared Infrastructure)")
        w.line()
        w.line("**Purpose**: Project initialization and basic structure")
        templates = _SETUP
    elif spec.kind == "foundational":
        w.line(f"## Phase {number}: Foundational (Blocking Prerequisites)")
        w.line()
        w.line(
            "**Purpose**: Core infrastructure that MUST be complete before ANY user story "
            "can be implemented"
        )
        w.line()
        w.line("**⚠️ CRITICAL**: No user story work can begin until this phase is complete")
        templates = _FOUNDATION
    else:
        w.line(f"## Phase {number}: Polish & Cross-Cutting Concerns")
        w.line()
        w.line("**Purpose**: Improvements that affect multiple user stories")
        templates = _POLISH
    w.line()
    for _ in range(spec.size):
        template, may_parallel = rng.choice(templates)
        desc = _fill(template, rng.choice(_ENTITIES), w.next_number)
        w.task(desc, parallel=may_parallel and rng.random() < 0.7, shell_hint=_path_of(desc))
    w.line()
    if spec.kind == "foundational":
        w.line(
            "**Checkpoint**: Foundation ready - user story implementation can now begin in parallel"
        )
        w.line()
    w.line("---")
    w.line()


def _write_story_phase(w: _Writer, spec: _PhaseSpec, number: int) -> None:
    rng = w.rng
    k = spec.story
    entity = _ENTITIES[(k - 1) % len(_ENTITIES)]
    title = f"{rng.choice(_STORY_VERBS)} {entity.replace('_', ' ')}s"
    mvp = " 🎯 MVP" if k == 1 else ""
    w.line(f"## Phase {number}: User Story {k} - {title} (Priority: P{k}){mvp}")
    w.line()
    w.line(f"**Goal**: Users can {title.lower()} end to end")
    w.line()
    w.line(
        f"**Independent Test**: Exercise the {entity.replace('_', ' ')} screens and API "
        "with the story's acceptance scenarios"
    )
    w.line()
    n_tests = spec.size * 3 // 10 if spec.size >= 4 else 0
    if n_tests:
        w.line(f"### Tests for User Story {k}")
        w.line()
        w.line("> **NOTE: Write these tests FIRST, ensure they FAIL before implementation**")
        w.line()
        examples: list[str] = []
        for _ in range(n_tests):
            desc = _fill(rng.choice(_TESTS), entity, w.next_number)
            parallel = rng.random() < 0.85
            w.task(desc, parallel=parallel, story=k, shell_hint=_path_of(desc))
            if parallel:
                examples.append(desc)
        w.parallel_examples[k] = examples
        w.line()
    w.line(f"### Implementation for User Story {k}")
    w.line()
    for _ in range(spec.size - n_tests):
        template, may_parallel = rng.choice(_IMPLEMENTATION)
        desc = _fill(template, entity, w.next_number)
        parallel = may_parallel and rng.random() < 0.75
        w.task(desc, parallel=parallel, story=k, shell_hint=_path_of(desc))
    w.line()
    w.line(
        f"**Checkpoint**: At this point, User Story {k} should be fully functional and "
        "testable independently"
    )
    w.line()
    w.line("---")
    w.line()


def _write_dependencies(w: _Writer, n_tasks: int) -> None:
    rng = w.rng
    w.line("## Dependencies & Execution Order")
    w.line()
    w.line("### Phase Dependencies")
    w.line()
    w.line("- **Setup (Phase 1)**: No dependencies - can start immediately")
    w.line("- **Foundational (Phase 2)**: Depends on Setup completion - BLOCKS all user stories")
    w.line("- **User Stories (Phase 3+)**: All depend on Foundational phase completion")
    w.line("- **Polish (Final Phase)**: Depends on all desired user stories being complete")
    w.line()
    w.line("### Explicit Ordering")
    w.line()
    if n_tasks >= 2:
        pairs: list[tuple[int, int]] = []
        for _ in range(max(3, n_tasks // 500)):
            a = rng.randint(1, n_tasks - 1)
            pairs.append((a, rng.randint(a + 1, min(n_tasks, a + 200))))
        for i, (a, b) in enumerate(sorted(pairs)):
            if i % 4 == 3 and b - a >= 2:
                mid = rng.randint(a + 1, b - 1)
                w.line(f"- {w.tid(a)} → {w.tid(mid)} → {w.tid(b)}")
            else:
                w.line(f"- {w.tid(a)} before {w.tid(b)}")
    else:
        w.line("- Nothing to order: there is a single task")
    w.line()
    w.line("### Within Each User Story")
    w.line()
    w.line("- Tests (if included) MUST be written and FAIL before implementation")
    w.line("- Models before services, services before endpoints")
    w.line("- Story complete before moving to next priority")
    w.line()
    w.line("### Parallel Opportunities")
    w.line()
    w.line("- All Setup tasks marked [P] can run in parallel")
    w.line("- Once Foundational phase completes, all user stories can start in parallel")
    w.line()
    for k, examples in list(w.parallel_examples.items())[:3]:
        if not examples:
            continue
        w.line(f"### Parallel Example: User Story {k}")
        w.line()
        w.line("```bash")
        w.line(f"# Launch all tests for User Story {k} together:")
        for desc in examples[:4]:
            w.line(f'Task: "{desc}"')
        w.line("```")
        w.line()


def _write_strategy(w: _Writer) -> None:
    w.line("## Implementation Strategy")
    w.line()
    w.line("### MVP First (User Story 1 Only)")
    w.line()
    w.line("1. Complete Phase 1: Setup")
    w.line("2. Complete Phase 2: Foundational (CRITICAL - blocks all stories)")
    w.line("3. Complete Phase 3: User Story 1")
    w.line("4. **STOP and VALIDATE**: Test User Story 1 independently")
    w.line()
    w.line("## Notes")
    w.line()
    w.line("- [P] tasks = different files, no dependencies")
    w.line("- Commit after each task or logical group")
    w.line()


def generate_tasks_md(n_tasks: int, seed: int = 0) -> str:
    """Return a spec-kit tasks.md with ``n_tasks`` tasks, deterministic for ``seed``.

    Args:
        n_tasks: Number of tasks (at least 1).
        seed: Seed of the random choices.

    Returns:
        The Markdown text, ``\\n`` line endings, ending with a newline.

    Raises:
        ValueError: If ``n_tasks`` is less than 1.
    """
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be at least 1, not {n_tasks}")
    rng = random.Random(seed)
    n_stories = max(1, round(n_tasks * 0.85 / 30))
    phases = _sizes(n_tasks, n_stories, rng)
    w = _Writer(n_tasks, rng)
    _write_header(w, sum(1 for p in phases if p.kind == "story"))
    for number, spec in enumerate(phases, start=1):
        if spec.kind == "story":
            _write_story_phase(w, spec, number)
        else:
            _write_simple_phase(w, spec, number)
    assert w.next_number == n_tasks + 1, (w.next_number, n_tasks)
    _write_dependencies(w, n_tasks)
    _write_strategy(w)
    return "\n".join(w.out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a generated tasks.md to a file or standard output."""
    parser = argparse.ArgumentParser(description="Generate a realistic spec-kit tasks.md.")
    parser.add_argument("n_tasks", type=int, help="number of tasks")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.n_tasks < 1:
        parser.error("n_tasks must be at least 1")
    text = generate_tasks_md(args.n_tasks, args.seed)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
