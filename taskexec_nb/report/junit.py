"""JUnit XML of a run's report: a testsuite per phase, a testcase per task."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from taskexec_nb.events import TaskStatus
from taskexec_nb.report.summary import FINAL_FAILURES, _allowed, _failure_point
from taskexec_nb.store import shown_status

if TYPE_CHECKING:
    from taskexec_nb.report.tables import ExecutionReport


def junit_xml(rep: ExecutionReport) -> str:
    """A report as JUnit XML: a testsuite per phase, a testcase per task.

    ``failed`` is a failure, ``timed_out`` an error, ``skipped`` and
    ``cancelled`` are skipped (with the reason), ``pending`` tasks (never
    started) are skipped too (so are the tasks of an ``incomplete`` run that
    nothing could run; each suite's ``run_status`` property names the run's
    status). A failure under ``allow_failure`` is skipped
    with the failure as its message (as pytest reports an expected failure):
    it does not fail the run, so it does not fail the CI job reading this.
    The document follows the strict Ant JUnit schema (properties, system-out
    and system-err present, timestamps without a zone), which CI systems read.

    Args:
        rep: The report.

    Returns:
        The XML document.
    """
    root = ET.Element("testsuites", name=f"taskexec run {rep.run_id}")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rep._task_rows:
        groups.setdefault(r["phase"] or "tasks", []).append(r)
    host = str(rep.run.get("host") or socket.gethostname() or "localhost")
    package = Path(str(rep.run.get("tasks_file") or "tasks.md")).name
    for index, (phase, rows) in enumerate(groups.items()):
        times = [rep._durations.get(r["task_id"], 0.0) for r in rows]
        starts = [r["started"] for r in rows if r["started"]]
        stamp = min(starts) if starts else rep.run.get("started") or 0.0
        suite = ET.SubElement(
            root,
            "testsuite",
            name=phase,
            package=package,
            id=str(index),
            hostname=host,
            timestamp=dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            tests=str(len(rows)),
            failures=str(sum(_junit_kind(r) == "failure" for r in rows)),
            errors=str(sum(_junit_kind(r) == "error" for r in rows)),
            skipped=str(sum(_junit_kind(r) == "skipped" for r in rows)),
            time=f"{sum(times):.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="run_id", value=rep.run_id)
        ET.SubElement(props, "property", name="tasks_file", value=str(rep.run["tasks_file"]))
        ET.SubElement(props, "property", name="run_status", value=str(rep.run.get("status")))
        for r, seconds in zip(rows, times, strict=True):
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{r['task_id']} {r['description'] or ''}".strip(),
                classname=phase,
                time=f"{seconds:.3f}",
            )
            _junit_outcome(case, r)
        ET.SubElement(suite, "system-out").text = ""
        ET.SubElement(suite, "system-err").text = ""
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        for name, value in element.attrib.items():
            element.set(name, xml_safe(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# Statuses a JUnit testcase reports as skipped (a count and the elements must agree).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Text that XML 1.0 can hold.

    Terminal colour codes are dropped and other control characters shown as
    U+FFFD: task output often has both.

    Args:
        text: Any text, e.g. a task's output tail.

    Returns:
        The text without colour codes, characters XML 1.0 forbids replaced.
    """
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def _junit_kind(r: Mapping[str, Any]) -> str | None:
    """How a task reads in JUnit: ``failure``, ``error``, ``skipped`` or None (passed)."""
    status = r["status"]
    if _allowed(r):
        return "skipped"
    if status == TaskStatus.FAILED.value:
        return "failure"
    if status == TaskStatus.TIMED_OUT.value:
        return "error"
    return None if status == TaskStatus.COMPLETED.value else "skipped"  # only done passes


def _junit_outcome(case: ET.Element, r: Mapping[str, Any]) -> None:
    status = r["status"]
    detail = "\n".join(
        x
        for x in (r["error"], r["stderr_tail"], f"log: {r['log_path']}" if r["log_path"] else "")
        if x
    )
    kind = _junit_kind(r)
    if kind == "skipped" and status in FINAL_FAILURES:
        message = f"{shown_status(status, True)}: {_failure_point(r)}"
        ET.SubElement(case, "skipped", message=message).text = detail
    elif kind in ("failure", "error"):
        el = ET.SubElement(case, kind, message=_failure_point(r), type=status)
        el.text = detail
    elif kind == "skipped":
        ET.SubElement(case, "skipped", message=str(r["error"] or status))
