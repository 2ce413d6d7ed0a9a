"""The one rule of when a task is finished (desktop/core/base/task_states.py), pinned to Celery."""

from __future__ import annotations

from celery import states
from celery.events.state import TASK_EVENT_TO_STATE

from desktop.core.base import task_states
from desktop.core.base.task_states import (
    FINISHED_EVENTS,
    FINISHED_ORDERED,
    FINISHED_STATES,
    finished_sql,
    is_finished,
)


def test_finished_is_celerys_ready_states_plus_what_the_panel_adds() -> None:
    assert states.READY_STATES <= FINISHED_STATES
    assert {"REJECTED", "IGNORED"} == FINISHED_STATES - states.READY_STATES
    assert not FINISHED_STATES & states.UNREADY_STATES - {"REJECTED"}
    assert set(FINISHED_ORDERED) == FINISHED_STATES and len(FINISHED_ORDERED) == 5


def test_running_and_unknown_states_are_not_finished() -> None:
    for state in ("PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS", "", None, 3):
        assert not is_finished(state), state
    for state in ("SUCCESS", "FAILURE", "REVOKED", "REJECTED", "IGNORED"):
        assert is_finished(state), state


def test_the_event_subjects_are_those_celery_maps_to_a_finished_state() -> None:
    assert FINISHED_EVENTS == ("succeeded", "failed", "revoked", "rejected")
    assert all(TASK_EVENT_TO_STATE[s] in FINISHED_STATES for s in FINISHED_EVENTS)
    assert "retried" not in FINISHED_EVENTS


def test_the_sql_list_names_every_finished_state_once() -> None:
    assert finished_sql() == "'FAILURE', 'IGNORED', 'REJECTED', 'REVOKED', 'SUCCESS'"


def test_every_layer_uses_the_one_set() -> None:
    """The copies the journal, spill, the Builder and the CLI kept are gone: each reads this."""
    from desktop.core.monitor import journal, journal_reader, rates, spill

    assert journal_reader.FINISHED_ORDERED is task_states.FINISHED_ORDERED
    assert task_states.finished_sql() == journal._FINAL_SQL
    assert spill.FINISHED_STATES is FINISHED_STATES
    assert rates.FINISHED_EVENTS is FINISHED_EVENTS
    assert {f"task-{s}" for s in FINISHED_EVENTS} <= set(rates.STATE_OF_EVENT)
