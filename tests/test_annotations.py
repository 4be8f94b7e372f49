"""The ``taskexec:`` annotation syntax and fenced-block actions, end to end."""

from __future__ import annotations

import pytest
from conftest import FENCE, compiled_on_import, line_of, md

import taskexec_nb
from taskexec_nb import ActionKind, Severity
from taskexec_nb.annotations import (
    KEYS,
    parse_bool,
    parse_duration,
    parse_resources,
    suggest,
)
from taskexec_nb.errors import AnnotationError
from taskexec_nb.parse import TaskFile, parse_text


def parse(text: str) -> TaskFile:
    return parse_text(text, "tasks.md")


def codes(tf: TaskFile, code: str) -> list[taskexec_nb.Diagnostic]:
    return [d for d in tf.diagnostics if d.code == code]


# --- every key -------------------------------------------------------------------------------

ALL_KEYS_SUB_BULLET = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Prepare the data
      ~~~bash
      echo prepare
      ~~~

    - [ ] T010 [US1] Train the model in src/train.py
      - taskexec: timeout=30m retries=2 backoff=10s needs=gpu:1,cpu:2 env.EPOCHS=3 param.lr=0.1
      - taskexec: cwd=src allow_failure=no executor=shell
      ~~~bash
      python train.py --epochs "$EPOCHS"
      ~~~
    """
)


def test_every_parameter_key_in_sub_bullet_form() -> None:
    plan = taskexec_nb.loads(ALL_KEYS_SUB_BULLET)
    task = plan["T010"]
    p = task.params
    assert p.timeout == 1800
    assert p.retries == 2
    assert p.backoff == 10
    assert dict(p.resources) == {"gpu": 1.0, "cpu": 2.0}
    assert dict(p.env) == {"EPOCHS": "3"}
    assert dict(p.params) == {"lr": "0.1"}
    assert p.cwd == "src"
    assert p.allow_failure is False
    assert p.executor == "shell"
    assert p.line == line_of(ALL_KEYS_SUB_BULLET, "timeout=30m")
    # The fenced block is the action; the annotations do not change it.
    assert task.action.kind is ActionKind.SHELL
    assert task.action.code == 'python train.py --epochs "$EPOCHS"\n'
    assert task.action.language == "bash"
    assert task.action.line == line_of(ALL_KEYS_SUB_BULLET, FENCE + "bash", 1)
    # Nothing was reported about the annotations.
    assert not [d for d in plan.diagnostics if d.code in ("TX107", "TX108")]
    # The task without annotations has none of them set.
    assert plan["T001"].params.as_dict() == {}


def test_every_parameter_key_in_html_comment_form() -> None:
    text = md(
        """\
        - [ ] T001 Train the model
          <!-- taskexec: timeout=1h30m retries=0 backoff=45s needs=gpu env.MODE=fast -->
          <!-- taskexec: cwd=work/dir allow_failure=yes param.epochs=7 executor=local -->
          ~~~python
          print("train")
          ~~~
        """
    )
    tf = parse(text)
    assert not tf.diagnostics
    p = tf.task("T001").params
    assert p.timeout == 5400
    assert p.retries == 0
    assert p.backoff == 45
    assert dict(p.resources) == {"gpu": 1.0}
    assert dict(p.env) == {"MODE": "fast"}
    assert dict(p.params) == {"epochs": "7"}
    assert p.cwd == "work/dir"
    assert p.allow_failure is True
    assert p.executor == "local"
    assert p.line == line_of(text, "timeout=1h30m")
    assert tf.task("T001").action.kind is ActionKind.PYTHON


def test_sub_bullet_and_comment_forms_combine_on_one_task() -> None:
    text = md(
        """\
        - [ ] T001 Build
          - taskexec: timeout=5m needs=cpu:2
          <!-- taskexec: retries=3 needs=mem:4 -->
          - taskexec: run="make build"
        """
    )
    tf = parse(text)
    assert not tf.diagnostics
    task = tf.task("T001")
    assert task.params.timeout == 300
    assert task.params.retries == 3
    assert dict(task.params.resources) == {"cpu": 2.0, "mem": 4.0}
    assert task.params.line == line_of(text, "timeout=5m")
    assert task.action.kind is ActionKind.COMMAND
    assert task.action.code == "make build"
    assert task.action.line == line_of(text, "run=")


def test_as_dict_lists_only_the_parameters_set() -> None:
    tf = parse("- [ ] T001 A\n  - taskexec: retries=1 env.X=y\n")
    assert tf.task("T001").params.as_dict() == {"retries": 1, "env": {"X": "y"}}


# --- actions from annotations ------------------------------------------------------------------


def test_run_is_a_shell_quoted_command_line() -> None:
    text = md(
        """\
        - [ ] T001 Test
          - taskexec: run='pytest -k "a and b"' timeout=90
        """
    )
    plan = taskexec_nb.loads(text)
    action = plan["T001"].action
    assert action.kind is ActionKind.COMMAND
    assert action.code == 'pytest -k "a and b"'
    assert action.line == 2
    assert plan["T001"].params.timeout == 90


def test_notebook_key_gives_a_notebook_action_with_params() -> None:
    text = "- [ ] T001 Train\n  - taskexec: notebook=notebooks/train.ipynb param.epochs=3\n"
    task = taskexec_nb.loads(text)["T001"]
    assert task.action.kind is ActionKind.NOTEBOOK
    assert task.action.target == "notebooks/train.ipynb"
    assert task.action.code is None
    assert dict(task.params.params) == {"epochs": "3"}


def test_callable_key_gives_a_callable_action() -> None:
    task = taskexec_nb.loads("- [ ] T001 Call\n  - taskexec: callable=pkg.mod:func\n")["T001"]
    assert task.action.kind is ActionKind.CALLABLE
    assert task.action.target == "pkg.mod:func"


@pytest.mark.parametrize("value", ["justaname", "a:b:c", ":", "mod:", ":fn", "x-y:z", "m:1f"])
def test_a_callable_that_is_not_module_colon_function_is_an_error(value: str) -> None:
    tf = parse(f"- [ ] T001 Call\n  - taskexec: callable={value}\n")
    messages = [d.message for d in codes(tf, "TX107")]
    assert messages == [f"T001: callable={value} is not module:function"]


@pytest.mark.parametrize("value", ["m:f", "pkg.mod:func", "mod:Cls.method", "_p.m2:_f"])
def test_callable_references_of_every_shape_are_accepted(value: str) -> None:
    task = taskexec_nb.loads(f"- [ ] T001 Call\n  - taskexec: callable={value}\n")["T001"]
    assert task.action.target == value


def test_executor_agent_gives_an_agent_action() -> None:
    text = "- [ ] T001 Write the docs\n  - taskexec: executor=agent\n"
    task = taskexec_nb.loads(text)["T001"]
    assert task.action.kind is ActionKind.AGENT
    assert task.params.executor == "agent"
    assert task.action.line == 2


def test_other_executor_alone_is_not_an_action() -> None:
    task = parse("- [ ] T001 X\n  - taskexec: executor=local\n").task("T001")
    assert task.action.kind is ActionKind.NONE
    assert task.params.executor == "local"


def test_task_naming_a_notebook_gets_a_notebook_action() -> None:
    task = taskexec_nb.loads("- [ ] T001 Run notebooks/x.ipynb end to end\n")["T001"]
    assert "notebooks/x.ipynb" in task.files
    assert task.action.kind is ActionKind.NOTEBOOK
    assert task.action.target == "notebooks/x.ipynb"


def test_notebook_annotation_wins_over_a_named_notebook() -> None:
    text = "- [ ] T001 Compare notebooks/a.ipynb\n  - taskexec: notebook=notebooks/b.ipynb\n"
    tf = parse(text)
    assert not codes(tf, "TX108")
    assert tf.task("T001").action.target == "notebooks/b.ipynb"


def test_task_with_nothing_has_no_action() -> None:
    task = parse("- [ ] T001 Think hard about src/app.py\n").task("T001")
    assert task.action.kind is ActionKind.NONE


def test_annotation_on_a_heading_task() -> None:
    text = md(
        """\
        # Tasks

        ### T005 — Build the docs

        Some prose about the docs.

        - taskexec: run="make docs" retries=1
        """
    )
    tf = parse(text)
    assert not tf.diagnostics
    task = tf.task("T005")
    assert task.action.kind is ActionKind.COMMAND
    assert task.action.code == "make docs"
    assert task.params.retries == 1
    assert task.params.line == line_of(text, "taskexec:")


def test_an_indented_annotation_line_right_under_an_item_is_its_annotation() -> None:
    # Markdown joins the line to the item's first paragraph; a reader sees an annotation.
    text = md(
        """\
        # Tasks

        - [ ] T001 Say hi (depends on T002)
          taskexec: run="echo hi" retries=2
        - [ ] T002 [P] Wrap the text
          over two lines
          <!-- taskexec: run="echo 2" -->
        - [ ] T003 Mention taskexec: in the text, not at a line's start
        """
    )
    tf = parse(text)
    assert not tf.diagnostics
    first, second, third = tf.tasks
    assert (first.action.kind, first.action.code) == (ActionKind.COMMAND, "echo hi")
    assert first.params.retries == 2 and first.params.line == line_of(text, "taskexec: run")
    assert first.description == "Say hi (depends on T002)"
    assert (second.action.code, second.description) == ("echo 2", "Wrap the text over two lines")
    assert third.action.kind is ActionKind.NONE


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25)],
)
def test_duration_forms_in_an_annotation(written: str, seconds: float) -> None:
    text = f"- [ ] T001 A\n  - taskexec: timeout={written} backoff={written}\n"
    tf = parse(text)
    assert not codes(tf, "TX107")
    assert tf.task("T001").params.timeout == pytest.approx(seconds)
    assert tf.task("T001").params.backoff == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1500ms", 1.5),
        ("100ms", 0.1),
        ("5ms", 0.005),
        ("1s500ms", 1.5),
        ("1.5s", 1.5),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("2h5m10s", 7510.0),
        ("0", 0.0),
        (" 5m ", 300.0),
        ("5M", 300.0),
    ],
)
def test_parse_duration(written: str, seconds: float) -> None:
    assert parse_duration(written) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "written", ["", "   ", "abc", "5x", "-5", "m", "ms", "h", "5 m", "1m 30s", "1.5.5s", "5d"]
)
def test_parse_duration_rejects(written: str) -> None:
    with pytest.raises(AnnotationError, match="is not a duration") as info:
        parse_duration(written)
    assert isinstance(info.value, ValueError)
    assert info.value.hint is not None
    assert "5m" in info.value.hint


# --- booleans and resources --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("yes", True),
        ("YES", True),
        ("true", True),
        ("on", True),
        ("1", True),
        ("y", True),
        (" yes ", True),
        ("no", False),
        ("False", False),
        ("off", False),
        ("0", False),
        ("n", False),
    ],
)
def test_parse_bool(written: str, value: bool) -> None:
    assert parse_bool(written) is value


@pytest.mark.parametrize("written", ["", "maybe", "2", "yess", "nope"])
def test_parse_bool_rejects(written: str) -> None:
    with pytest.raises(AnnotationError, match="not yes/no") as info:
        parse_bool(written)
    assert info.value.hint is not None
    assert "yes or no" in info.value.hint


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("gpu", {"gpu": 1.0}),
        ("gpu:1,cpu:2", {"gpu": 1.0, "cpu": 2.0}),
        ("gpu:0.5", {"gpu": 0.5}),
        (" gpu : 2 , cpu ", {"gpu": 2.0, "cpu": 1.0}),
        ("gpu:1,,cpu:2,", {"gpu": 1.0, "cpu": 2.0}),
        ("my-res:2", {"my-res": 2.0}),
        ("gpu,gpu:3", {"gpu": 3.0}),
    ],
)
def test_parse_resources(written: str, value: dict[str, float]) -> None:
    assert parse_resources(written) == value


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("gpu:0", "must be positive"),
        ("gpu:-1", "must be positive"),
        ("gpu:x", "is not a number"),
        ("cpu:two", "is not a number"),
        ("", "names no resource"),
        (" , ", "names no resource"),
        (":1", "is not a resource name"),
        ("1gpu:1", "is not a resource name"),
        ("g p u:1", "is not a resource name"),
    ],
)
def test_parse_resources_rejects(written: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        parse_resources(written)


def test_parse_resources_rejects_nan() -> None:
    # "nan" converts with float() but is not a number of anything; NaN also
    # defeats the "must be positive" check (nan <= 0 is False).
    with pytest.raises(AnnotationError):
        parse_resources("gpu:nan")


def test_suggest() -> None:
    heads = [k.split(".")[0] for k in KEYS]
    assert suggest("timout", heads) == "timeout"
    assert suggest("retry", heads) == "retries"
    assert suggest("xyzzy", heads) is None


# --- bad annotations: TX107 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "message", "hint"),
    [
        ("timeout=abc", "'abc' is not a duration", "90s"),
        ("backoff=soon", "'soon' is not a duration", "5m"),
        ("retries=-1", "retries must be 0 or more, got -1", None),
        ("retries=two", "'two' is not a whole number", "retries=2"),
        ("needs=gpu:x", "resource amount 'x' for 'gpu' is not a number", "needs=gpu:1"),
        ("needs=gpu:0", "must be positive", None),
        ("timout=5m", "unknown annotation key 'timout'", "did you mean 'timeout'?"),
        ("retry=2", "unknown annotation key 'retry'", "did you mean 'retries'?"),
        ('run="make docs', "cannot split annotation", "close the quote"),
        ("foo", "'foo' is not key=value", "timeout=5m"),
        ("allow_failure=maybe", "'maybe' is not yes/no", "yes or no"),
        ("env.1BAD=x", "'1BAD' is not a valid env name", "env.NAME=value"),
        ("param.a-b=x", "'a-b' is not a valid param name", "param.NAME=value"),
        ("cwd=", "cwd= needs a value", None),
        ("run=", "run= needs a value", "make docs"),
        ("", "empty taskexec annotation", "key=value"),
    ],
)
@pytest.mark.parametrize("form", ["bullet", "comment"])
def test_bad_annotation_is_tx107(
    annotation: str, message: str, hint: str | None, form: str
) -> None:
    line = (
        f"  - taskexec: {annotation}" if form == "bullet" else f"  <!-- taskexec: {annotation} -->"
    )
    text = "\n".join(
        [
            "# Tasks",
            "",
            "- [ ] T001 Fine",
            "  - taskexec: timeout=5m",
            "- [ ] T002 Broken",
            line,
            "",
        ]
    )
    tf = parse(text)
    found = codes(tf, "TX107")
    assert len(found) == 1, tf.diagnostics
    d = found[0]
    assert d.severity is Severity.ERROR
    assert d.line == 6
    assert d.task_id == "T002"
    assert d.file == "tasks.md"
    assert d.message.startswith("T002: ")
    assert message in d.message
    if hint is not None:
        assert d.hint is not None
        assert hint in d.hint
    # The good annotation of the other task is unaffected.
    assert tf.task("T001").params.timeout == 300
    # Loading refuses the file and names the problem.
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.loads(text, path="tasks.md")
    assert [e.code for e in info.value.errors] == ["TX107"]
    assert "tasks.md:6: error TX107" in str(info.value)


def test_unknown_key_message_lists_the_known_keys() -> None:
    tf = parse("- [ ] T001 A\n  - taskexec: xyzzy=1\n")
    (d,) = codes(tf, "TX107")
    assert "unknown annotation key 'xyzzy'" in d.message
    for key in ("timeout", "retries", "needs", "env.NAME", "param.NAME"):
        assert key in d.message
    assert d.hint is None  # nothing is close to xyzzy


@pytest.mark.parametrize(("written", "expected"), [("env", "env.NAME"), ("param", "param.NAME")])
def test_prefix_key_without_name_suggests_the_dotted_form(written: str, expected: str) -> None:
    # "did you mean 'env'?" for a key written as "env" helps nobody: the fix is env.NAME=value.
    tf = parse(f"- [ ] T001 A\n  - taskexec: {written}=FOO\n")
    (d,) = codes(tf, "TX107")
    assert d.hint is not None
    assert expected in d.hint, d.hint


def test_every_bad_word_of_one_annotation_is_reported() -> None:
    text = "- [ ] T001 A\n  - taskexec: timeout=abc retries=-1 needs=gpu:x cwd=ok env.K=v\n"
    tf = parse(text)
    found = codes(tf, "TX107")
    assert len(found) == 3
    assert {d.line for d in found} == {2}
    joined = " ".join(d.message for d in found)
    assert "'abc' is not a duration" in joined
    assert "retries must be 0 or more" in joined
    assert "is not a number" in joined
    # The good words are still applied.
    assert tf.task("T001").params.cwd == "ok"
    assert dict(tf.task("T001").params.env) == {"K": "v"}


def test_bad_annotations_on_several_lines_keep_their_lines() -> None:
    text = md(
        """\
        - [ ] T001 A
          - taskexec: timout=1m
          <!-- taskexec: retries=x -->
        - [ ] T002 B
          - taskexec: needs=gpu:-2
        """
    )
    tf = parse(text)
    got = sorted((d.line, d.task_id) for d in codes(tf, "TX107"))
    assert got == [
        (line_of(text, "timout"), "T001"),
        (line_of(text, "retries=x"), "T001"),
        (line_of(text, "gpu:-2"), "T002"),
    ]


# --- fenced blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "kind"),
    [
        ("bash", ActionKind.SHELL),
        ("sh", ActionKind.SHELL),
        ("shell", ActionKind.SHELL),
        ("python", ActionKind.PYTHON),
        ("py", ActionKind.PYTHON),
    ],
)
def test_fenced_block_is_the_action(lang: str, kind: ActionKind) -> None:
    text = md(
        f"""\
        ## Phase 1: Setup

        - [ ] T001 Do it
          ~~~{lang}
          line one
          line two
          ~~~
        """
    )
    plan = taskexec_nb.loads(text)
    action = plan["T001"].action
    assert action.kind is kind
    assert action.code == "line one\nline two\n"
    assert action.language == lang
    assert action.line == line_of(text, FENCE + lang)
    assert not [d for d in plan.diagnostics if d.code == "TX105"]


def test_two_blocks_of_one_language_run_as_one_script() -> None:
    text = md(
        """\
        - [ ] T001 Two steps
          ~~~bash
          echo first
          ~~~
          Some words between.
          ~~~bash
          echo second
          ~~~
        """
    )
    tf = parse(text)
    assert not tf.diagnostics
    action = tf.task("T001").action
    assert action.kind is ActionKind.SHELL
    assert action.code is not None
    assert "echo first" in action.code
    assert "echo second" in action.code
    assert action.code.index("echo first") < action.code.index("echo second")
    assert action.line == line_of(text, FENCE + "bash")


def test_sh_and_bash_blocks_are_the_same_language() -> None:
    text = md(
        """\
        - [ ] T001 Two shells
          ~~~sh
          echo a
          ~~~
          ~~~bash
          echo b
          ~~~
        """
    )
    tf = parse(text)
    assert not codes(tf, "TX108")
    code = tf.task("T001").action.code or ""
    assert code.index("echo a") < code.index("echo b")


def test_two_python_blocks_concatenate() -> None:
    text = md(
        """\
        ### T003 — Heading task

        ~~~python
        x = 1
        ~~~

        ~~~py
        print(x)
        ~~~
        """
    )
    tf = parse(text)
    action = tf.task("T003").action
    assert action.kind is ActionKind.PYTHON
    code = action.code or ""
    assert code.index("x = 1") < code.index("print(x)")


def test_mixed_languages_are_tx108() -> None:
    text = md(
        """\
        - [ ] T001 Fine
          ~~~bash
          echo ok
          ~~~
        - [ ] T002 Mixed
          ~~~sh
          echo a
          ~~~
          ~~~python
          print(1)
          ~~~
        """
    )
    tf = parse(text)
    (d,) = codes(tf, "TX108")
    assert d.severity is Severity.ERROR
    assert d.task_id == "T002"
    assert d.line == line_of(text, FENCE + "sh")
    assert "more than one action" in d.message
    assert str(line_of(text, FENCE + "sh")) in d.message
    assert str(line_of(text, FENCE + "python")) in d.message
    assert d.hint is not None
    with pytest.raises(taskexec_nb.ValidationError):
        taskexec_nb.loads(text)


def test_fence_plus_run_is_tx108() -> None:
    text = md(
        """\
        - [ ] T001 Both
          - taskexec: run="make all"
          ~~~bash
          make all
          ~~~
        """
    )
    (d,) = codes(parse(text), "TX108")
    assert d.task_id == "T001"
    assert str(line_of(text, "run=")) in d.message
    assert str(line_of(text, FENCE + "bash")) in d.message


@pytest.mark.parametrize(
    "second", ['run="b"', "notebook=nb/a.ipynb", "callable=m:f", "run=b notebook=nb/a.ipynb"]
)
def test_two_declared_actions_are_tx108(second: str) -> None:
    text = f'- [ ] T001 Two\n  - taskexec: run="a"\n  - taskexec: {second}\n'
    (d,) = codes(parse(text), "TX108")
    assert d.line == 2
    assert "one action" in d.message


def test_unsupported_fence_language_is_tx106_warning() -> None:
    text = md(
        """\
        - [ ] T001 Configure
          ~~~yaml
          key: value
          ~~~
        """
    )
    tf = parse(text)
    (d,) = codes(tf, "TX106")
    assert d.severity is Severity.WARNING
    assert d.line == line_of(text, FENCE + "yaml")
    assert d.task_id == "T001"
    assert "'yaml'" in d.message
    assert "not run" in d.message
    assert tf.task("T001").action.kind is ActionKind.NONE
    # A warning does not stop loading.
    plan = taskexec_nb.loads(text)
    assert "TX106" in [x.code for x in plan.diagnostics]


def test_unsupported_fence_next_to_a_runnable_one() -> None:
    text = md(
        """\
        - [ ] T001 Configure then run
          ~~~json
          {"a": 1}
          ~~~
          ~~~bash
          echo run
          ~~~
        """
    )
    tf = parse(text)
    assert [d.code for d in tf.diagnostics] == ["TX106"]
    assert tf.task("T001").action.kind is ActionKind.SHELL
    assert tf.task("T001").action.code == "echo run\n"


@pytest.mark.parametrize("lang", ["", "text", "txt", "plain"])
def test_plain_fences_are_neither_run_nor_reported(lang: str) -> None:
    text = f"- [ ] T001 Note\n  {FENCE}{lang}\n  just text\n  {FENCE}\n"
    tf = parse(text)
    assert not tf.diagnostics
    assert tf.task("T001").action.kind is ActionKind.NONE


@pytest.mark.parametrize("lang", ["bash", "", "text", "yaml"])
def test_annotation_inside_a_fence_is_not_an_annotation(lang: str) -> None:
    text = md(
        f"""\
        - [ ] T001 Example
          ~~~{lang}
          taskexec: timeout=zzz
          - taskexec: bogus=1
          <!-- taskexec: retries=5 -->
          ~~~
        """
    )
    tf = parse(text)
    assert not codes(tf, "TX107")
    assert tf.task("T001").params.as_dict() == {}
    if lang == "bash":
        assert "taskexec: timeout=zzz" in (tf.task("T001").action.code or "")


def test_annotation_after_a_fence_is_read() -> None:
    text = md(
        """\
        - [ ] T001 Example
          ~~~bash
          echo hi
          ~~~
          - taskexec: timeout=2m
        """
    )
    tf = parse(text)
    assert tf.task("T001").params.timeout == 120
    assert tf.task("T001").action.code == "echo hi\n"


def test_importing_the_annotation_reader_compiles_no_pattern_and_durations_still_read() -> None:
    after = ("difflib", "shlex", "taskexec_nb.model", "taskexec_nb.errors", "taskexec_nb._lazyre")
    assert compiled_on_import("taskexec_nb.annotations", after) == []
    from taskexec_nb.annotations import parse_duration

    assert parse_duration("1h30m") == 5400.0 and parse_duration("250ms") == 0.25
