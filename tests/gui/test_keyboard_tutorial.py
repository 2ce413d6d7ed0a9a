"""The tutorial's scenarios with the keyboard alone, on the embedded Redis with real workers.

Every step is a key event sent to the widget that has the focus (or to the menu or dialog
that a key opened), as a person without a mouse presses them: start the tutorial's workers
from the Workers screen's presets; in the Builder put tasks from the palette on the canvas,
set their arguments, queue and priority, build a group and a chain with s() and si(), send
each; find the tasks in Tasks (Ctrl+F) and the queues in Queues; set a rate limit on a worker
(Ctrl+K, the command palette). What the test reads back (the canvas, the journal, the
workers' own answer to `inspect registered`) is only looked at, never driven.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QInputDialog,
    QMenu,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.core.canvas.model import ChainNode, GroupNode, TaskNode
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.services import Services
from desktop.ui.shell.command_palette import CommandPalette
from desktop.ui.shell.main_window import MainWindow
from workers import create_app

pytestmark = pytest.mark.slow

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
NONE = Qt.KeyboardModifier.NoModifier
TASKS = "workers.tasks."
TIMERS: list[QTimer] = []


def focused() -> QWidget:
    """Where a key goes: the focused widget, else the open popup or dialog, else the window
    (as Qt sends it)."""
    for _ in range(50):
        widget = QApplication.focusWidget()
        if widget is not None:
            return widget
        for shown in (QApplication.activePopupWidget(), QApplication.activeModalWidget()):
            if shown is not None and shown.isVisible():
                return shown
        QTest.qWait(20)
    window = QApplication.activeWindow()
    if window is None or not window.isVisible():
        # What a window manager does when a menu closes; the offscreen platform does not.
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        window.activateWindow()
        QTest.qWait(50)
        return QApplication.focusWidget() or window
    return window


def key(qtbot: QtBot, pressed: Qt.Key, modifier: Qt.KeyboardModifier = NONE) -> None:
    qtbot.keyClick(focused(), pressed, modifier)


def type_text(qtbot: QtBot, text: str) -> None:
    qtbot.keyClicks(focused(), text)


def within(widget: QWidget) -> bool:
    now = QApplication.focusWidget()
    return now is not None and (now is widget or widget.isAncestorOf(now))


def tab_to(qtbot: QtBot, target: QWidget, limit: int = 120) -> None:
    """Tab from wherever the focus is until it is on (or inside) `target`."""
    seen = []
    for _ in range(limit):
        if within(target):
            return
        seen.append(f"{type(focused()).__name__}:{focused().accessibleName()}")
        key(qtbot, Qt.Key.Key_Tab)
    raise AssertionError(f"Tab never reached {target!r}: {seen}")


def go_to(qtbot: QtBot, window: MainWindow, screen: QWidget) -> None:
    """Ctrl+n, n the screen's place among the tabs."""
    qtbot.keyClick(focused(), Qt.Key(Qt.Key.Key_1 + window.tabs.indexOf(screen)), CTRL)
    assert window.tabs.currentWidget() is screen


def when_shown(qtbot: QtBot, find: Callable[[], Any], act: Callable[[Any], None]) -> list[str]:
    """Run `act` on the popup or dialog `find` returns, as soon as a key has opened it (a
    menu or a QInputDialog runs its own event loop, so the keys for it come from a timer)."""
    done: list[str] = []
    timer = QTimer()
    timer.setInterval(50)

    def look() -> None:
        shown = find()
        if shown is not None and shown.isVisible():
            timer.stop()
            try:
                act(shown)
                done.append("ok")
            except BaseException as exc:
                done.append(repr(exc))
                shown.close()  # never leave a nested loop waiting on a test that failed
                raise

    timer.timeout.connect(look)
    timer.start()
    TIMERS.append(timer)  # alive until the test ends
    return done


def active_dialog(kind: type[QDialog]) -> Callable[[], Any]:
    return lambda: w if isinstance(w := QApplication.activeModalWidget(), kind) else None


def tab_ring(qtbot: QtBot, dialog: QWidget, limit: int = 20) -> list[QWidget]:
    """The widgets Tab visits in `dialog`, once round, from the one with the focus; each
    one shown, enabled and in the dialog. Once the window system made it the active window
    with the focus inside (on a loaded machine that comes a little after it shows)."""
    qtbot.waitUntil(
        lambda: dialog.isActiveWindow() and dialog.isAncestorOf(focused()), timeout=10000
    )
    start = focused()
    ring = [start]
    for _ in range(limit):
        key(qtbot, Qt.Key.Key_Tab)
        if focused() is start:
            assert all(w.isVisible() and w.isEnabled() and dialog.isAncestorOf(w) for w in ring)
            return ring
        ring.append(focused())
    raise AssertionError(f"Tab never came back round in {dialog.windowTitle()!r}: {ring}")


def button_texts(ring: list[QWidget]) -> list[str]:
    return [w.text().replace("&", "") for w in ring if isinstance(w, QAbstractButton)]


def add_task(qtbot: QtBot, name: str) -> None:
    """Ctrl+F (the Builder's task search), the task's name, Enter: on the canvas, after the
    selected node."""
    key(qtbot, Qt.Key.Key_F, CTRL)
    type_text(qtbot, name)
    key(qtbot, Qt.Key.Key_Return)


def set_field(qtbot: QtBot, text: str) -> None:
    """Type into the focused field in place of what it holds, Tab to commit."""
    key(qtbot, Qt.Key.Key_A, CTRL)
    type_text(qtbot, text)
    key(qtbot, Qt.Key.Key_Tab)


def run_canvas_and_wait(qtbot: QtBot, window: MainWindow, count: int) -> None:
    builder = window.builder
    before = builder.message.text()
    key(qtbot, Qt.Key.Key_Return, CTRL)  # Send
    assert builder.message.text() != before, "Ctrl+Return sent nothing"

    def finished() -> bool:
        states = builder.view.states
        return len(states) == count and all(s.state == "SUCCESS" for s in states.values())

    try:
        qtbot.waitUntil(finished, timeout=45000)
    except Exception:
        raise AssertionError(
            f"{builder.message.text()!r}; {builder.view.states}; focus {focused()!r}"
        ) from None


def test_the_tutorial_by_keyboard_alone(
    qtbot: QtBot, services: Services, connected_window: MainWindow
) -> None:
    window = connected_window
    session = window.session
    qtbot.waitUntil(lambda: window.events_label.text() == "Events: connected", timeout=15000)

    # -- Workers: the tutorial's workers from the presets menu -------------------------------
    workers = window.workers
    go_to(qtbot, window, workers)
    local = workers.local

    def pick(menu: QMenu, starts: str) -> None:
        for _ in range(len(menu.actions()) + 1):
            if menu.activeAction() and menu.activeAction().text().startswith(starts):
                qtbot.keyClick(menu, Qt.Key.Key_Return)
                return
            qtbot.keyClick(menu, Qt.Key.Key_Down)
        raise AssertionError(f"no preset {starts!r} in {[a.text() for a in menu.actions()]}")

    popup = lambda: w if isinstance(w := QApplication.activePopupWidget(), QMenu) else None  # noqa: E731
    for preset in ("queue1 + queue2", "priority demo"):
        tab_to(qtbot, local.presets_button)
        done = when_shown(qtbot, popup, lambda menu, p=preset: pick(menu, p))
        key(qtbot, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda d=done: bool(d), timeout=5000)
        assert done == ["ok"]

    def online() -> bool:
        states = {w.name: w.state for w in session.local_workers}
        return states == {"queue1": "online", "queue2": "online", "priority": "online"}

    qtbot.waitUntil(online, timeout=60000)

    # -- Builder: t1(1, 2, message=...) at priority 6, as the tutorial's last example -------
    builder = window.builder
    go_to(qtbot, window, builder)
    qtbot.waitUntil(lambda: builder.palette_model.index_of(TASKS + "t1").isValid(), timeout=20000)
    add_task(qtbot, "t1")
    assert builder.model.root == TaskNode(TASKS + "t1")
    assert builder.view.selected == ()
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # from the search, backwards: the node editor
    qtbot.waitUntil(lambda: within(builder.editor.arg_fields["a"]), timeout=3000)
    set_field(qtbot, "1")
    set_field(qtbot, "2")  # b
    set_field(qtbot, "addition performed")  # message
    tab_to(qtbot, builder.editor.priority_spin)
    set_field(qtbot, "6")
    assert builder.model.root == TaskNode(  # message fills its place: one of t1's positional
        TASKS + "t1", [1, 2, "addition performed"], {}, False, {"priority": 6}
    )
    run_canvas_and_wait(qtbot, window, 1)

    # -- a group: demo1 and demo2 in parallel, sent to queue2 --------------------------------
    key(qtbot, Qt.Key.Key_N, CTRL | SHIFT)  # New canvas
    qtbot.waitUntil(lambda: builder.model.root is None, timeout=3000)
    add_task(qtbot, "demo1")
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # the editor: seconds
    set_field(qtbot, "0.2")
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # back to the canvas
    assert within(builder.view)
    key(qtbot, Qt.Key.Key_G, CTRL)  # wrap in group
    key(qtbot, Qt.Key.Key_Down)  # into it: demo1
    assert builder.view.selected == (0,)
    add_task(qtbot, "demo2")  # after demo1, in the group
    key(qtbot, Qt.Key.Key_F6, SHIFT)
    set_field(qtbot, "0.3")
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # the canvas
    key(qtbot, Qt.Key.Key_Up)  # the group itself
    assert builder.view.selected == ()
    key(qtbot, Qt.Key.Key_F6)  # its editor: no arguments, so the queue
    assert within(builder.editor.queue_box)
    set_field(qtbot, "queue2")
    assert builder.model.root == GroupNode(
        [TaskNode(TASKS + "demo1", [0.2]), TaskNode(TASKS + "demo2", [0.3])],
        {"queue": "queue2"},
    )
    run_canvas_and_wait(qtbot, window, 2)

    # -- a chain: demo1.s(), demo3.s(), demo2.si(), demo4.si() -------------------------------
    key(qtbot, Qt.Key.Key_N, CTRL | SHIFT)
    qtbot.waitUntil(lambda: builder.model.root is None, timeout=3000)
    add_task(qtbot, "demo1")
    key(qtbot, Qt.Key.Key_F6, SHIFT)
    set_field(qtbot, "0.1")
    key(qtbot, Qt.Key.Key_F6, SHIFT)
    key(qtbot, Qt.Key.Key_L, CTRL)  # wrap in chain
    key(qtbot, Qt.Key.Key_Down)
    add_task(qtbot, "demo3")  # s(): gets demo1's result
    add_task(qtbot, "demo2")
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # the editor: its only argument is fed by s() ...
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # ... so on the canvas:
    key(qtbot, Qt.Key.Key_I, CTRL)  # si()
    key(qtbot, Qt.Key.Key_F6)
    assert within(builder.editor.arg_fields["seconds"])
    set_field(qtbot, "0.1")
    add_task(qtbot, "demo4")
    key(qtbot, Qt.Key.Key_F6, SHIFT)  # the editor: si() by its check box this time
    tab_to(qtbot, builder.editor.si_box)
    key(qtbot, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: builder.editor.arg_fields["seconds"].isEnabled(), timeout=3000)
    key(qtbot, Qt.Key.Key_F6, SHIFT)
    key(qtbot, Qt.Key.Key_F6)  # the editor again, now on the seconds field
    set_field(qtbot, "0.1")
    assert within(builder.editor.queue_box)  # Tab stays in the form made again for si()
    assert builder.model.root == ChainNode(
        [
            TaskNode(TASKS + "demo1", [0.1]),
            TaskNode(TASKS + "demo3"),
            TaskNode(TASKS + "demo2", [0.1], immutable=True),
            TaskNode(TASKS + "demo4", [0.1], immutable=True),
        ]
    )
    run_canvas_and_wait(qtbot, window, 4)
    journal = session.journal
    assert journal is not None
    qtbot.waitUntil(
        lambda: journal.count(TaskQuery(state="SUCCESS")) >= 7, timeout=15000
    )  # t1, the group's two, the chain's four

    # -- Tasks: Ctrl+F, a search, the chain's demo3 with demo1's result + 10 -----------------
    tasks = window.tasks
    go_to(qtbot, window, tasks)
    key(qtbot, Qt.Key.Key_F, CTRL)
    assert within(tasks.search)
    type_text(qtbot, f"name:{TASKS}demo3")
    key(qtbot, Qt.Key.Key_Return)
    model = tasks.model

    def rows() -> list[str]:
        return [
            " ".join(
                str(model.index(r, c, QModelIndex()).data() or "")
                for c in range(model.columnCount())
            )
            for r in range(model.rowCount())
        ]

    qtbot.waitUntil(lambda: len(rows()) == 1 and "demo3" in rows()[0], timeout=10000)
    # s() gave it demo1's result (1) as its argument; it returned that + 10.
    qtbot.waitUntil(lambda: " (1,) " in rows()[0] and " 11" in rows()[0], timeout=5000)
    assert "SUCCESS" in rows()[0]

    # -- Queues: Tab into the table, Down to another queue -----------------------------------
    queues = window.queues
    go_to(qtbot, window, queues)
    qtbot.waitUntil(lambda: queues.snapshot is not None, timeout=15000)
    names = [c.queue for c in queues.snapshot.counts]
    assert {"queue1", "queue2", "tasks"} <= set(names)
    tab_to(qtbot, queues.table)
    key(qtbot, Qt.Key.Key_Home, CTRL)  # the first row
    qtbot.waitUntil(lambda: queues.selected == names[0], timeout=5000)
    key(qtbot, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: queues.selected == names[1], timeout=5000)

    # -- a rate limit on queue1@..., through the command palette ----------------------------
    go_to(qtbot, window, workers)
    tab_to(qtbot, workers.table)
    key(qtbot, Qt.Key.Key_Home, CTRL)  # the first row
    node = workers.selected_node()
    for _ in range(workers.model.rowCount()):
        if node is not None and node.startswith("queue1@"):
            break
        key(qtbot, Qt.Key.Key_Down)
        node = workers.selected_node()
    assert node is not None and node.startswith("queue1@"), node

    rings: dict[str, list[str]] = {}  # each dialog's Tab order: the field, then OK, Cancel

    def pick_task(dialog: QInputDialog) -> None:
        ring = tab_ring(qtbot, dialog)
        assert not isinstance(ring[0], QAbstractButton)
        rings["task"] = button_texts(ring)
        set_text_and_enter(dialog, f"{TASKS}rate_limited")
        rate = when_shown(qtbot, active_dialog(QInputDialog), set_rate)
        asked.append(rate)

    def set_rate(dialog: QInputDialog) -> None:
        ring = tab_ring(qtbot, dialog)
        assert not isinstance(ring[0], QAbstractButton)
        rings["rate"] = button_texts(ring)
        set_text_and_enter(dialog, "5/m")

    def set_text_and_enter(dialog: QDialog, text: str) -> None:
        key(qtbot, Qt.Key.Key_A, CTRL)
        type_text(qtbot, text)
        key(qtbot, Qt.Key.Key_Return)

    asked: list[list[str]] = []
    key(qtbot, Qt.Key.Key_K, CTRL)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), CommandPalette))
    palette = QApplication.activeModalWidget()
    assert isinstance(palette, CommandPalette)
    qtbot.waitUntil(lambda: within(palette.typed), timeout=3000)  # typing goes to it at once
    palette_ring = tab_ring(qtbot, palette)
    assert palette_ring == [palette.typed, palette.listed]
    type_text(qtbot, "rate limit")
    assert palette.listed.currentItem().text().startswith("Rate limit…")
    asked.append(when_shown(qtbot, active_dialog(QInputDialog), pick_task))
    key(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(asked) == 2 and asked[1] == ["ok"], timeout=10000)
    assert asked[0] == ["ok"]
    assert rings == {"task": ["OK", "Cancel"], "rate": ["OK", "Cancel"]}
    qtbot.waitUntil(lambda: "rate" in workers.reply.text().lower(), timeout=10000)

    endpoints = services.endpoints(session.profile)
    client = create_app(endpoints.broker_url, endpoints.result_backend, queue_prefix="")
    try:
        said = client.control.inspect(destination=[node], timeout=3).registered("rate_limit")
    finally:
        client.close()
    assert f"{TASKS}rate_limited [rate_limit=5/m]" in said[node], said
