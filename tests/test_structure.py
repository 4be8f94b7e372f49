"""Gates on the package's shape: no import cycle, module and class sizes, import cost, docs.

Each test reads the package's source (with ``ast``) or imports it in a fresh interpreter,
and fails with the full list of what breaks the rule, each with file:line.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "taskexec_nb"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

MAX_MODULE_LINES = 650
MAX_CLASS_LINES = 500
ONE_CONCEPT_MARKER = "One concept:"
HEAVY_IMPORTS = ("pandas", "plotly", "pyarrow", "pydantic")


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE_DIR.parent))


# ---------------------------------------------------------------------------
# Import graph


def is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run: at module level or in functions, not under TYPE_CHECKING."""
    if isinstance(tree, ast.If) and is_type_checking(tree.test):
        children: list[ast.AST] = list(tree.orelse)
    else:
        children = list(ast.iter_child_nodes(tree))
    for child in children:
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from runtime_imports(child)


def imported_modules(
    name: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]
) -> set[str]:
    """The package's modules that one import statement in module ``name`` loads by name.

    ``from a.b import c`` loads ``a.b.c`` when that is a module, else ``a.b``. The parent
    packages that Python runs first (``a/__init__.py``) are not edges: every package whose
    ``__init__`` re-exports its modules would otherwise be a cycle with each of them.
    """
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = set()
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in known:
            found.add(submodule)
        elif source in known:
            found.add(source)
    return found


@dataclass(frozen=True)
class Edge:
    target: str
    where: str  # file:line of the import statement


def import_graph() -> dict[str, list[Edge]]:
    """Module -> the package modules it imports at run time, with where it does."""
    files = module_files()
    known = set(files)
    graph: dict[str, list[Edge]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, Edge] = {}
        for node in runtime_imports(tree):
            for target in imported_modules(name, path.name == "__init__.py", node, known):
                if target != name:
                    edges.setdefault(target, Edge(target, f"{relative(path)}:{node.lineno}"))
        graph[name] = sorted(edges.values(), key=lambda e: e.target)
    return graph


def find_cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """One cycle (as a list of modules, first repeated last) per strongly connected group."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                connect(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for group in groups:
        members = set(group)
        start = group[0]
        # Breadth-first from start back to start inside the group: the shortest cycle.
        paths = {start: [start]}
        queue = [start]
        cycle: list[str] | None = None
        while queue and cycle is None:
            current = queue.pop(0)
            for edge in graph[current]:
                if edge.target == start:
                    cycle = [*paths[current], start]
                    break
                if edge.target in members and edge.target not in paths:
                    paths[edge.target] = [*paths[current], edge.target]
                    queue.append(edge.target)
        assert cycle is not None
        cycles.append(cycle)
    return cycles


def describe_cycle(cycle: list[str], graph: dict[str, list[Edge]]) -> str:
    steps = []
    for source, target in itertools.pairwise(cycle):
        where = next(e.where for e in graph[source] if e.target == target)
        steps.append(f"  {source} -> {target}  ({where})")
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in the package (imports under TYPE_CHECKING aside):\n" + (
        "\n".join(describe_cycle(c, graph) for c in cycles)
    )


def test_the_scheduler_imports_neither_config_nor_store() -> None:
    # Issue 20: the scheduler takes resolved tasks, a tracker and a path; the session
    # that owns the store passes it what it needs (durable, save_delay).
    graph = import_graph()
    wrong = [
        f"{e.target} ({e.where})"
        for e in graph["taskexec_nb.run.schedule"]
        if e.target.split(".")[:2] in (["taskexec_nb", "config"], ["taskexec_nb", "store"])
    ]
    assert not wrong, "run/schedule.py imports " + ", ".join(wrong)


def graph_of(sources: dict[str, str]) -> dict[str, list[Edge]]:
    known = set(sources)
    graph = {}
    for name, text in sources.items():
        targets: set[str] = set()
        for node in runtime_imports(ast.parse(text)):
            targets |= imported_modules(name, False, node, known)
        graph[name] = [Edge(t, f"{name}:?") for t in sorted(targets - {name})]
    return graph


def test_the_cycle_check_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    lazy = {
        "pkg.a": "from pkg.b import thing\n",
        "pkg.b": "def later():\n    from pkg import a\n    return a\n",
    }
    assert find_cycles(graph_of(lazy)) == [["pkg.a", "pkg.b", "pkg.a"]]
    typed = {
        "pkg.a": "from pkg.b import thing\n",
        "pkg.b": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.a import other\n"
            "else:\n    import os\n"
        ),
    }
    assert find_cycles(graph_of(typed)) == []
    relative_import = {
        "pkg.a": "from .b import thing\n",
        "pkg.b": "from . import a\n",
        "pkg.c": "import pkg.a\n",
    }
    assert find_cycles(graph_of(relative_import)) == [["pkg.a", "pkg.b", "pkg.a"]]


# ---------------------------------------------------------------------------
# Sizes


def one_concept(tree: ast.Module) -> bool:
    docstring = ast.get_docstring(tree) or ""
    return any(line.strip().startswith(ONE_CONCEPT_MARKER) for line in docstring.splitlines())


# Sizes count every line as it is in the file: code, comments, blank lines and docstrings
# (as the project's before-stop hook counts them). A class counts from its first
# decorator to its last line.


def module_lines(text: str) -> int:
    """Lines of a module's source, as an editor numbers them."""
    return len(text.splitlines())


def class_lines(node: ast.ClassDef) -> int:
    """Lines of a class, from its first decorator (or ``class``) to its last line."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return (node.end_lineno or node.lineno) - start + 1


def oversized() -> tuple[dict[str, str], list[str]]:
    """Modules and classes over the limits, and the modules that say they are one concept.

    Returns:
        Each too long module or class by ``file`` or ``file:Class``, with a line
        saying its size; and the files whose docstring has a ``One concept:`` line.
    """
    too_long: dict[str, str] = {}
    one_concept_modules: list[str] = []
    for path in module_files().values():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        declared = one_concept(tree)
        if declared:
            one_concept_modules.append(relative(path))
        lines = module_lines(text)
        if lines > MAX_MODULE_LINES and not declared:
            too_long[relative(path)] = f"  {relative(path)}: {lines} lines"
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and class_lines(node) > MAX_CLASS_LINES:
                too_long[f"{relative(path)}:{node.name}"] = (
                    f"  {relative(path)}:{node.lineno} {node.name}: {class_lines(node)} lines"
                )
    return too_long, one_concept_modules


def test_no_module_is_too_long_unless_it_says_it_is_one_concept() -> None:
    too_long, one_concept_modules = oversized()
    modules = [v for k, v in too_long.items() if ":" not in k]
    assert not modules, (
        f"modules over {MAX_MODULE_LINES} lines (docstrings included) whose docstring has no "
        f"'{ONE_CONCEPT_MARKER}' line:\n" + "\n".join(modules)
    )
    assert len(one_concept_modules) <= 1, (
        f"at most one module may say '{ONE_CONCEPT_MARKER}': {one_concept_modules}"
    )


def test_no_class_is_too_long() -> None:
    too_long, _ = oversized()
    classes = [v for k, v in too_long.items() if ":" in k]
    assert not classes, f"classes over {MAX_CLASS_LINES} lines (docstrings included):\n" + (
        "\n".join(classes)
    )


def test_sizes_count_docstrings_comments_and_decorators() -> None:
    source = (
        "import dataclasses\n\n\n@dataclasses.dataclass\n"
        'class A:\n    """Doc\n\n    more.\n    """\n\n'
        '    # a comment\n    def f(self):\n        """F."""\n        return 1\n'
    )
    tree = ast.parse(source)
    assert module_lines(source) == 14
    node = tree.body[1]
    assert isinstance(node, ast.ClassDef)
    assert class_lines(node) == 11


# ---------------------------------------------------------------------------
# Import cost


def imported_by_importtime(stderr: str) -> set[str]:
    """The module names in ``python -X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        match = re.match(r"import time:\s*\d+\s*\|\s*\d+\s*\|\s*(\S+)", line)
        if match:
            names.add(match.group(1))
    return names


def test_importing_the_package_loads_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {PACKAGE}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = imported_by_importtime(done.stderr)
    assert PACKAGE in imported, done.stderr[-2000:]
    heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY_IMPORTS)
    assert not heavy, f"`import {PACKAGE}` imports {heavy}"


def test_the_importtime_reader_sees_nested_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert {"json", "json.decoder"} <= imported_by_importtime(done.stderr)


NOTEBOOK_STACK = (
    "IPython",
    "ipywidgets",
    "ipykernel",
    "papermill",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "anywidget",
)
"""Libraries only a notebook, or a notebook task, needs."""

ENGINE = (
    "asyncio",
    "sqlite3",
    "taskexec_nb.plan",
    "taskexec_nb.store",
    "taskexec_nb.executors.base",
    "taskexec_nb.run",
)
"""What only running (and the commands that read the state store) needs."""

NEVER_ON_THE_COMMAND_LINE = (*HEAVY_IMPORTS, *NOTEBOOK_STACK, "importlib.metadata")
"""No command imports these unless a setting or a task needs them (``importlib.metadata``:
only for an executor that is not built in)."""

COMMAND_TASKS = """# Tasks: imports

## Phase 1: Setup

- [ ] T001 Make the build folder
  - taskexec: run="mkdir -p build"
- [ ] T002 [P] Write the sample in build/a.txt (depends on T001)
  ```bash
  echo a > build/a.txt
  ```
"""


def command_imports(cwd: Path, *args: str) -> set[str]:
    """What ``taskexec ARGS`` imports, as a whole process in ``cwd`` (not under coverage)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"{PACKAGE}.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return imported_by_importtime(done.stderr)


def among(imported: set[str], unwanted: tuple[str, ...]) -> list[str]:
    """The imported modules that are, or are inside, one of ``unwanted``."""
    return sorted(
        name for name in imported if any(name == u or name.startswith(u + ".") for u in unwanted)
    )


def test_help_imports_neither_the_engine_nor_the_parser(tmp_path: Path) -> None:
    imported = command_imports(tmp_path, "--help")
    assert f"{PACKAGE}.cli.run" in imported  # every command's parser is built
    unwanted = (
        *NEVER_ON_THE_COMMAND_LINE,
        *ENGINE,
        "markdown_it",
        f"{PACKAGE}.parse",
        f"{PACKAGE}.config.layering",
        "json",
    )
    assert among(imported, unwanted) == []


def test_validate_imports_the_parser_but_not_the_engine(tmp_path: Path) -> None:
    (tmp_path / "tasks.md").write_text(COMMAND_TASKS, encoding="utf-8")
    imported = command_imports(tmp_path, "validate", "tasks.md")
    assert {f"{PACKAGE}.parse", f"{PACKAGE}.validate", "markdown_it"} <= imported
    assert among(imported, (*NEVER_ON_THE_COMMAND_LINE, *ENGINE)) == []
    assert "tomllib" not in imported  # no config file to read
    # Nor the settings' declarations and checks: nothing but the defaults is configured.
    assert among(imported, (f"{PACKAGE}.config.layering", f"{PACKAGE}.settings")) == []
    assert "hashlib" not in imported  # OpenSSL's loading: the file's digest needs none
    assert "json" not in imported  # only --json prints it


def test_a_run_with_the_defaults_imports_no_heavy_or_notebook_library(tmp_path: Path) -> None:
    (tmp_path / "tasks.md").write_text(COMMAND_TASKS, encoding="utf-8")
    imported = command_imports(tmp_path, "run", "tasks.md")
    assert (tmp_path / "build" / "a.txt").is_file()  # it ran
    assert {f"{PACKAGE}.run.session", "asyncio", "sqlite3"} <= imported
    assert among(imported, NEVER_ON_THE_COMMAND_LINE) == []
    assert "statistics" not in imported  # with fractions and decimal: only a Gantt needs it
    assert "hashlib" not in imported  # digests of the file, the run's options and its name


def test_among_names_a_module_and_what_is_inside_it() -> None:
    imported = {"asyncio", "asyncio.events", "asynciox", "json"}
    assert among(imported, ("asyncio",)) == ["asyncio", "asyncio.events"]


# ---------------------------------------------------------------------------
# Docstrings: Google-style Args:/Returns: on every public function and method, and on
# every function with parameters whose name does not start with "_" (nested ones and
# methods of private classes included), as the before-stop hook counts them

SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$")
ENTRY = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:")
NO_VALUE = {"None", "NoReturn", "Never"}
YIELDING = re.compile(r"^(typing\.|collections\.abc\.)?(Async)?(Iterator|Generator)\b")


def sections(docstring: str) -> dict[str, list[str]]:
    """Google-style sections of a docstring: title -> the names its entries document."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    indent = 0
    entry_indent: int | None = None
    for line in docstring.splitlines():
        header = SECTION.match(line)
        if header:
            current, indent, entry_indent = header.group(2), len(header.group(1)), None
            found[current] = []
            continue
        if current is None or not line.strip():
            continue
        this_indent = len(line) - len(line.lstrip())
        if this_indent <= indent:
            current = None
            continue
        if entry_indent is None:
            entry_indent = this_indent
        entry = ENTRY.match(line)
        if this_indent == entry_indent and entry:
            found[current].append(entry.group(1).lstrip("*"))
    return found


def is_public_module(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def documented_functions(
    tree: ast.Module, public_module: bool = True
) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """The functions whose docstring the gate checks: (node, is_method).

    Those not named with a leading underscore that are either public API (a public
    module's functions, and its public classes' methods), or take parameters
    anywhere: nested functions, methods of private classes and of classes inside
    functions, functions of private modules (what the before-stop hook counts).
    """

    def walk(
        parent: ast.AST, scope: str, api: bool
    ) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
        # scope: "module", "class" or "function", what a def directly under it is in;
        # an if, try, with or loop does not change it.
        for node in ast.iter_child_nodes(parent):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                is_method = scope == "class"
                public = not node.name.startswith("_")
                if public and (api or documented_parameters(node, is_method)):
                    yield node, is_method
                yield from walk(node, "function", False)
            elif isinstance(node, ast.ClassDef):
                public_class = api and scope == "module" and not node.name.startswith("_")
                yield from walk(node, "class", public_class)
            else:
                yield from walk(node, scope, api)

    yield from walk(tree, "module", public_module)


def decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d).split("(")[0] for d in node.decorator_list}


def documented_parameters(
    node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool
) -> list[str]:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    decorators = decorator_names(node)
    if is_method and names and "staticmethod" not in decorators:
        names = names[1:]  # self or cls
    names += [a.arg for a in args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


def docstring_problems(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> list[str]:
    """What the docstring of one public function lacks (empty when it is complete)."""
    decorators = decorator_names(node)
    if "overload" in decorators or "typing.overload" in decorators:
        return []  # the implementation carries the docstring
    if any(d.endswith((".setter", ".deleter")) for d in decorators):
        return []  # documented on the property's getter
    docstring = ast.get_docstring(node)
    if docstring is None:
        return ["no docstring"]
    found = sections(docstring)
    problems = []
    parameters = documented_parameters(node, is_method)
    if parameters:
        listed = found.get("Args", [])
        missing = [p for p in parameters if p not in listed]
        if "Args" not in found:
            problems.append(f"no Args: section (for {', '.join(parameters)})")
        elif missing:
            problems.append(f"Args: lacks {', '.join(missing)}")
    stale = [a for a in found.get("Args", []) if a not in parameters]
    if stale:
        problems.append(f"Args: names {', '.join(stale)}, not parameters")
    returns = ast.unparse(node.returns) if node.returns is not None else "None"
    is_property = bool(decorators & {"property", "functools.cached_property", "cached_property"})
    if returns not in NO_VALUE and not is_property:
        if YIELDING.match(returns):
            if "Yields" not in found and "Returns" not in found:
                problems.append(f"no Yields: section (yields from {returns})")
        elif "Returns" not in found:
            problems.append(f"no Returns: section (returns {returns})")
    return problems


def test_every_public_function_documents_its_arguments_and_result() -> None:
    missing = []
    for name, path in module_files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, is_method in documented_functions(tree, is_public_module(name)):
            for problem in docstring_problems(node, is_method):
                missing.append(f"  {relative(path)}:{node.lineno} {node.name}: {problem}")
    assert not missing, (
        f"{len(missing)} functions (public, or not named _ and with parameters) whose "
        "docstring lacks a Google-style section:\n" + "\n".join(missing)
    )


def problems_of(source: str) -> list[str]:
    tree = ast.parse(source)
    return [
        p
        for node, is_method in documented_functions(tree)
        for p in docstring_problems(node, is_method)
    ]


def test_the_docstring_check_reads_google_sections() -> None:
    complete = '''
def add(left: int, right: int = 0, *rest: int, scale: int, **named: str) -> int:
    """Add.

    Args:
        left: The first.
        right (int): The second,
            over two lines.
        *rest: More.
        scale: A factor.
        **named: Ignored.

    Returns:
        The sum.
    """
'''
    assert problems_of(complete) == []
    assert problems_of(complete.replace("        scale: A factor.\n", "")) == ["Args: lacks scale"]
    assert problems_of(complete.replace("    Returns:\n        The sum.\n", "")) == [
        "no Returns: section (returns int)"
    ]
    method = '''
class Box:
    def put(self, item: str) -> None:
        """Put.

        Args:
            item: What.
            extra: Gone.
        """

    @property
    def size(self) -> int:
        """The size."""

    def _hidden(self, x: int) -> int:
        """Private."""
'''
    assert problems_of(method) == ["Args: names extra, not parameters"]
    undocumented = (
        'def go(path: str) -> None:\n    """Go.\n\n    Raises:\n        OSError: no.\n    """\n'
    )
    assert problems_of(undocumented) == ["no Args: section (for path)"]
    generator = (
        "def each(n: int) -> Iterator[int]:\n"
        '    """Each.\n\n    Args:\n        n: How many.\n    """\n'
    )
    assert problems_of(generator) == ["no Yields: section (yields from Iterator[int])"]


def named_problems(source: str, public_module: bool = True) -> list[str]:
    tree = ast.parse(source)
    return [
        f"{node.name}: {p}"
        for node, is_method in documented_functions(tree, public_module)
        for p in docstring_problems(node, is_method)
    ]


def test_the_docstring_check_reaches_nested_functions_and_private_classes() -> None:
    nested = '''
def outer(n: int) -> int:
    """Outer.

    Args:
        n: How many.

    Returns:
        The count.
    """

    def count(item: str) -> int:
        return len(item)

    def reset() -> None:
        pass

    def _local(item: str) -> int:
        return 0

    return count("x")
'''
    assert named_problems(nested) == ["count: no docstring"]
    docstring = '        """Count.\n\n        Args:\n            item: What.\n        """\n'
    documented = nested.replace("        return len(item)", docstring + "        return len(item)")
    assert named_problems(documented) == ["count: no Returns: section (returns int)"]
    private_class = '''
class _Box:
    def put(self, item: str) -> None:
        """Put."""

    def size(self) -> int:
        return 0

    @staticmethod
    def make(size: int) -> None:
        """Make.

        Args:
            size: How big.
        """

        class Inner:
            def get(self, key: str) -> None:
                pass

            def clear(self) -> None:
                pass
'''
    assert named_problems(private_class) == [
        "put: no Args: section (for item)",
        "get: no docstring",
    ]
    module = "def run(path: str) -> None:\n    pass\n\n\ndef main() -> None:\n    pass\n"
    assert named_problems(module) == ["run: no docstring", "main: no docstring"]
    assert named_problems(module, public_module=False) == ["run: no docstring"]


def test_the_importtime_reader_names_a_heavy_import() -> None:
    name = "plotly"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {name}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert name in imported_by_importtime(done.stderr)
