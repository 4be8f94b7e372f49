"""Typed event payloads, their stored JSON form, and the bus's replay for late observers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.events import (
    PAYLOADS,
    Event,
    EventBus,
    EventKind,
    EventRecorder,
    Notice,
    RunFinished,
    RunStarted,
    TaskFinished,
    TaskOutput,
    TaskQueued,
    TaskRetrying,
    payload,
)
from taskexec_nb.store import StateStore

TASKS = md(
    """\
    ## Phase 1: Setup

    - [ ] T001 Say hello
      ~~~bash
      echo hello; echo world >&2
      ~~~
    - [ ] T002 Fail once, then pass
      - taskexec: retries=1 backoff=0
      ~~~bash
      n=$(cat counter 2>/dev/null || echo 0); echo $((n + 1)) > counter
      echo "try $n"; test "$n" -ge 1
      ~~~

    ## Phase 2: Main

    - [ ] T003 Fail
      ~~~bash
      echo broken >&2; exit 4
      ~~~
    - [ ] T004 After the failure (skipped)
      ~~~bash
      echo never
      ~~~
    """
)


def write(tmp_path: Path, text: str = TASKS) -> Path:
    path = tmp_path / "tasks.md"
    path.write_text(text, encoding="utf-8")
    return path


# --- payloads ----------------------------------------------------------------------------------


def test_each_kind_has_its_payload_class_with_typed_attributes() -> None:
    assert set(PAYLOADS) == set(EventKind)
    event = Event(EventKind.TASK_QUEUED, "R1", "T001", data={"waiting_on": "a worker"})
    assert isinstance(event.data, TaskQueued)
    assert event.data.waiting_on == "a worker"
    finished = Event(EventKind.TASK_FINISHED, "R1", "T001", 1, "failed", {"exit_code": 3})
    assert isinstance(finished.data, TaskFinished)
    assert (finished.data.exit_code, finished.data.error, finished.data.allowed) == (3, None, False)
    assert isinstance(Event(EventKind.RUN_RESUMED, "R1").data, PAYLOADS[EventKind.RUN_RESUMED])


def test_a_payload_built_from_a_mapping_is_that_mapping_keys_order_and_nones() -> None:
    given = {"reason": "r", "error": "r", "no_action": True, "allowed": True}
    data = payload(EventKind.TASK_FINISHED, given)
    assert dict(data) == given and list(data) == list(given)
    assert data.to_dict() == given and len(data) == 4
    queued = payload(EventKind.TASK_QUEUED, {"waiting_on": None})
    assert dict(queued) == {"waiting_on": None}  # a None given is kept: the store reads it
    assert "waiting_on" in queued and queued.get("waiting_on") is None
    retried = payload(EventKind.TASK_RETRYING, {"error": "exit code 1", "delay": 0.5})
    assert dict(retried) == {"error": "exit code 1", "delay": 0.5}
    assert "log_path" not in retried and retried.log_path is None
    with pytest.raises(KeyError):
        retried["log_path"]
    # get() reads the keys given only: a field not given is the default, not its attribute.
    assert retried.get("log_path", "not given") == "not given" and retried.get("delay") == 0.5
    assert data.get("reason", "not given") == "r" and data.get("tail") is None
    assert queued.get("waiting_on", "not given") is None
    assert not payload(EventKind.TASK_TICKED, {})  # empty: the store keeps NULL for it


def test_a_payload_built_directly_keeps_the_fields_its_kind_always_stores() -> None:
    assert dict(TaskQueued()) == {"waiting_on": None}
    assert dict(Notice(warning="w")) == {"warning": "w"}
    assert Notice(error="e").text == "e" and Notice(info="i").text == "i" and Notice().text == ""
    assert dict(RunStarted(tasks=3)) == {"tasks": 3}
    assert dict(TaskFinished(reason="not started")) == {"reason": "not started"}
    # An attempt's end (its tail) brings the rest of the outcome along, None or not.
    assert dict(TaskFinished(tail="out", allowed=True)) == {
        "exit_code": None,
        "signal": None,
        "error": None,
        "tail": "out",
        "stderr_tail": None,
        "log_path": None,
        "allowed": True,
    }
    assert list(TaskRetrying(delay=1.0)) == [
        "attempt_status",
        "delay",
        "waiting_on",
        "log_path",
        "exit_code",
        "signal",
        "error",
        "tail",
        "stderr_tail",
    ]


def test_a_key_the_kind_does_not_have_is_refused_with_the_kinds_keys() -> None:
    with pytest.raises(
        TypeError, match=r"task_queued events carry no 'wating_on' \(their details: waiting_on\)"
    ):
        Event(EventKind.TASK_QUEUED, "R1", "T001", data={"wating_on": None})
    with pytest.raises(TypeError, match="their details: none"):
        Event(EventKind.TASK_TICKED, "R1", "T001", data={"x": 1})
    with pytest.raises(TypeError, match="a run_started event carries no RunFinished payload"):
        Event(EventKind.RUN_STARTED, "R1", data=RunFinished(counts={}))
    # Reading a store of another version: keys the kind does not have are dropped.
    assert dict(payload(EventKind.TASK_QUEUED, {"waiting_on": "x", "old": 1}, strict=False)) == {
        "waiting_on": "x"
    }


def test_events_and_payloads_are_frozen() -> None:
    event = Event(EventKind.TASK_OUTPUT, "R1", "T001", 1, data=TaskOutput("stdout", "x\n"))
    with pytest.raises(AttributeError):
        event.status = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.data.text = "y"  # type: ignore[misc]


def test_from_dict_reads_to_dict_back_and_stored_rows() -> None:
    event = Event(
        EventKind.TASK_FINISHED, "R1", "T001", 2, "failed", {"exit_code": 1, "tail": "t"}, 5.0
    )
    assert Event.from_dict(event.to_dict()) == event
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    row = {"kind": "task_queued", "run_id": "R1", "time": 1, "data": '{"waiting_on": null}'}
    assert Event.from_dict(row).data == TaskQueued(waiting_on=None)
    bare = Event.from_dict({"kind": "task_ticked", "run_id": "R1", "time": 1, "data": None})
    assert bare.task_id is None and not bare.data
    with pytest.raises(ValueError, match="event data must be a JSON object, not list"):
        Event.from_dict({"kind": "notice", "run_id": "R1", "time": 1, "data": "[1]"})
    with pytest.raises(ValueError):
        Event.from_dict({"kind": "no_such_kind", "run_id": "R1", "time": 1})


# --- real runs: the stored form --------------------------------------------------------------


def test_a_real_runs_stored_event_json_is_each_events_mapping_form(tmp_path: Path) -> None:
    recorder = EventRecorder()
    plan = taskexec_nb.load(write(tmp_path))
    handle = plan.run(state_dir=tmp_path / "state", observers=[recorder])
    assert handle.result is not None and handle.result.value == "failed"
    live = [e for e in recorder.events if e.kind is not EventKind.TASK_OUTPUT]
    assert any(e.kind is EventKind.TASK_OUTPUT for e in recorder.events)
    with sqlite3.connect(handle.store_path) as db:
        stored = db.execute(
            "SELECT kind, task_id, attempt, status, data, time FROM events WHERE run_id = ?"
            " ORDER BY seq",
            (handle.run_id,),
        ).fetchall()
    assert len(stored) == len(live)
    for event, (kind, task_id, attempt, status, data, when) in zip(live, stored, strict=True):
        assert (kind, task_id, attempt, status, when) == (
            event.kind.value,
            event.task_id,
            event.attempt,
            event.status,
            event.time,
        )
        # The JSON text, byte for byte, is the mapping's (keys in the order given).
        assert data == (json.dumps(event.data.to_dict()) if event.data else None)
    kinds = {e.kind for e in live}
    assert {EventKind.TASK_RETRYING, EventKind.TASK_FINISHED, EventKind.RUN_FINISHED} <= kinds
    # Read back, each stored event equals the live one: a store reads as typed events.
    store = StateStore(handle.store_path, readonly=True)
    try:
        assert [Event.from_dict(r.as_dict()) for r in store.events(handle.run_id)] == live
    finally:
        store.close()
    skipped = next(e for e in live if e.task_id == "T004" and e.kind is EventKind.TASK_FINISHED)
    assert isinstance(skipped.data, TaskFinished)
    assert (skipped.data.blocked_by, skipped.data.reason) == ("T003", "prerequisite T003 failed")
    assert "exit_code" not in skipped.data  # no attempt, no outcome keys


# --- the bus ------------------------------------------------------------------------------------


def test_an_observer_subscribed_after_arun_returned_gets_run_started_with_replay(
    tmp_path: Path,
) -> None:
    plan = taskexec_nb.load(write(tmp_path))
    late, plain = EventRecorder(), EventRecorder()

    async def main() -> None:
        handle = await plan.arun(state_dir=tmp_path / "state")
        handle.bus.subscribe(plain)
        handle.bus.subscribe(late, replay=True)
        await handle.wait()

    asyncio.run(main())
    assert late.kinds()[0] == "run_started" and late.kinds()[-1] == "run_finished"
    assert "run_started" not in plain.kinds()  # without replay: from now on only
    stored = [e for e in late.events if e.kind is not EventKind.TASK_OUTPUT]
    assert len({id(e) for e in stored}) == len(stored)  # each once


def test_replay_while_another_thread_emits_delivers_each_event_once_in_order() -> None:
    bus = EventBus()
    total = 3000
    started = threading.Event()

    def emit() -> None:
        for n in range(total):
            bus.emit(Event(EventKind.TASK_QUEUED, "R1", f"T{n}", data=TaskQueued()))
            if n == 200:
                started.set()

    thread = threading.Thread(target=emit)
    thread.start()
    started.wait(5)
    subscribers = [EventRecorder() for _ in range(5)]
    for recorder in subscribers:  # while the other thread emits
        bus.subscribe(recorder, replay=True)
    thread.join()
    for recorder in subscribers:
        assert [e.task_id for e in recorder.events] == [f"T{n}" for n in range(total)]


def test_an_observer_failing_on_replay_raises_and_is_not_subscribed() -> None:
    bus = EventBus()
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data=RunStarted(tasks=1)))
    seen: list[Event] = []

    def broken(event: Event) -> None:
        seen.append(event)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        bus.subscribe(broken, replay=True)
    bus.emit(Event(EventKind.RUN_RESUMED, "R1"))
    assert len(seen) == 1


def test_a_replayed_observer_that_fails_later_is_removed_with_a_notice() -> None:
    bus = EventBus()
    recorder = EventRecorder()
    bus.subscribe(recorder)
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data=RunStarted(tasks=1)))
    calls: list[str] = []

    def fragile(event: Event) -> None:
        calls.append(event.kind.value)
        if event.kind is EventKind.RUN_PAUSED:
            raise ValueError("cannot draw")

    unsubscribe = bus.subscribe(fragile, replay=True)
    bus.emit(Event(EventKind.RUN_PAUSED, "R1", data={"suspend": False}))
    bus.emit(Event(EventKind.RUN_RESUMED, "R1"))
    assert calls == ["run_started", "run_paused"]
    notice = next(e for e in recorder.events if e.kind is EventKind.NOTICE)
    assert isinstance(notice.data, Notice)
    assert "fragile failed and was removed: ValueError('cannot draw')" in notice.data.text
    unsubscribe()  # already gone: nothing to do


def test_unsubscribe_stops_delivery_and_history_leaves_output_out() -> None:
    bus = EventBus()
    recorder = EventRecorder()
    unsubscribe = bus.subscribe(recorder, replay=True)
    bus.emit(Event(EventKind.TASK_OUTPUT, "R1", "T1", 1, data={"stream": "stdout", "text": "x"}))
    unsubscribe()
    bus.emit(Event(EventKind.RUN_RESUMED, "R1"))
    assert recorder.kinds() == ["task_output"]
    assert [e.kind for e in bus.history] == [EventKind.RUN_RESUMED]
    quiet = EventBus(keep=False)
    quiet.emit(Event(EventKind.RUN_RESUMED, "R1"))
    assert quiet.history == []
    assert recorder.kinds("T1") == ["task_output"] and recorder.kinds("T2") == []


def replay_with_an_event_from_another_thread(
    bus: EventBus, observer: Callable[[Event], None]
) -> None:
    """Subscribe ``observer`` with replay while another thread emits ``run_resumed``.

    The other thread's emit has taken its list of observers (the replay's gate among
    them) before the replay ends: an observer subscribed earlier sees the event first.
    """
    reached = threading.Event()
    bus.subscribe(lambda e: reached.set() if e.kind is EventKind.RUN_RESUMED else None)
    thread = threading.Thread(target=bus.emit, args=(Event(EventKind.RUN_RESUMED, "R1"),))
    replaying = True

    def during_replay(event: Event) -> None:
        nonlocal replaying
        if replaying:  # the first replayed event: emit from elsewhere, mid-replay
            replaying = False
            thread.start()
            assert reached.wait(10)
        observer(event)

    bus.subscribe(during_replay, replay=True)
    thread.join(10)
    assert not thread.is_alive()


def test_an_event_emitted_by_another_thread_during_replay_comes_after_the_replayed_ones() -> None:
    bus = EventBus()
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data=RunStarted(tasks=1)))
    bus.emit(Event(EventKind.RUN_PAUSED, "R1", data={"suspend": False}))
    recorder = EventRecorder()
    replay_with_an_event_from_another_thread(bus, recorder)
    bus.emit(Event(EventKind.TASK_QUEUED, "R1", "T1", data=TaskQueued()))
    assert recorder.kinds() == ["run_started", "run_paused", "run_resumed", "task_queued"]


def test_an_observer_failing_on_an_event_held_during_replay_is_removed_with_a_notice() -> None:
    bus = EventBus()
    notices = EventRecorder()
    bus.subscribe(notices)
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data=RunStarted(tasks=1)))
    calls: list[str] = []

    def fragile(event: Event) -> None:
        calls.append(event.kind.value)
        if event.kind is EventKind.RUN_RESUMED:
            raise ValueError("cannot draw")

    replay_with_an_event_from_another_thread(bus, fragile)
    bus.emit(Event(EventKind.TASK_QUEUED, "R1", "T1", data=TaskQueued()))
    assert calls == ["run_started", "run_resumed"]  # not called again once it failed
    texts = [e.data.text for e in notices.events if isinstance(e.data, Notice)]
    assert len(texts) == 1
    assert "failed and was removed: ValueError('cannot draw')" in texts[0]


def test_unsubscribing_an_observer_subscribed_without_replay_stops_its_delivery() -> None:
    bus = EventBus()
    recorder = EventRecorder()
    unsubscribe = bus.subscribe(recorder)
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data=RunStarted(tasks=1)))
    unsubscribe()
    bus.emit(Event(EventKind.RUN_RESUMED, "R1"))
    assert recorder.kinds() == ["run_started"]
