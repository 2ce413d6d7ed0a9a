"""The active profile and its connection, as signals the window listens to: the object every
screen is given.

Why it is made of three parts: opening a profile and keeping its connection
(`ProfileConnection`), the live feed of the broker's events into the journal (`LiveFeed`) and
the local workers (`LocalWorkersHost`) change for different reasons and wait on different
things. Screens see one object: the signals are here, and the parts' state is shown here as
read-only properties, so no screen reaches into a part.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from celery import Celery
from PySide6.QtCore import QObject, Signal

from desktop.core.app.config import Drift
from desktop.core.app.effective_config import EffectiveConfig
from desktop.core.canvas.model import Canvas
from desktop.core.canvas.sending import Sent, SentNode, send
from desktop.core.diagnosis.checks import Diagnosis, diagnose
from desktop.core.diagnosis.evidence import task_queue
from desktop.core.diagnosis.facts import gather_for
from desktop.core.local.local_worker import LocalWorker
from desktop.core.local.supervisor import Supervisor
from desktop.core.local.worker_spec import WorkerSpec
from desktop.core.monitor.audit import FAILED, OK, AuditSink
from desktop.core.monitor.journal import Journal
from desktop.core.monitor.pipeline import Monitor
from desktop.core.opening import ConnectionFacts
from desktop.core.services import Services, open_reader
from desktop.core.settings.profile_model import Endpoints, Profile
from desktop.ui.common.background import Background
from desktop.ui.common.jobs import event_loop
from desktop.ui.session.alerts_host import AlertsHost
from desktop.ui.session.beat_host import LocalBeatHost
from desktop.ui.session.connection import ProfileConnection
from desktop.ui.session.feed import LiveFeed
from desktop.ui.session.shared_feed import SharedHistoryFeed
from desktop.ui.session.workers_host import LocalWorkersHost

log = logging.getLogger(__name__)


T = TypeVar("T")
WHY_TIMEOUT_S = 5.0  # each source a diagnosis asks (broker, backend, workers) may take this long


class Session(QObject):
    profiles_changed = Signal(list, str)  # names, active name
    state_changed = Signal(str, str)  # state, one-line reason
    facts_changed = Signal(object)  # ConnectionFacts
    # EffectiveConfig (Celery's and kombu's defaults when the app cannot be imported), and why
    # not imported ("" when it was); sent again when the app's files change
    app_config_changed = Signal(object, str)
    drift_changed = Signal(object)  # Drift: what changed since the profile last read the app
    app_config_failed = Signal(str)  # a re-read failed and the last good one is kept; "" when not
    # A profile was opened: what views show of the previous one goes (its journal opens later)
    profile_switched = Signal(str)
    # Journal | None, for the tasks table: None at once on a switch, the journal once it is
    # open (off the GUI thread: opening an old one migrates it, seconds on a big file)
    journal_changed = Signal(object)
    diff_ready = Signal(object)  # StateDiff of the current profile, on the GUI thread
    events_state_changed = Signal(str, str)  # event stream state, message
    reconciled = Signal(int)  # rows corrected from the result backend
    journal_state_changed = Signal(str, str)  # "ok" / "failing", what happened (monitor.py)
    local_workers_changed = Signal(list)  # list[LocalWorker] of the active profile
    local_workers_elsewhere = Signal(int)  # how many of other profiles run on this machine
    local_worker_message = Signal(str, bool)  # message, is an error
    local_beat_changed = Signal(object)  # LocalWorker | None: the active profile's local beat
    local_beat_message = Signal(str, bool)  # message (a refusal's reason), is an error
    rows_learned = Signal(object)  # {task id: journal row}: facts learned off the broker
    audited = Signal()  # an action on the cluster was added to the audit log
    # A shared history (shared_feed.py): {task id: row} a recorder stored, read by id off the
    # GUI thread; a reload of what the screens show; the status bar's tone, words, detail.
    history_rows = Signal(object)
    history_reload = Signal()
    history_status_changed = Signal(str, str, str)

    def __init__(
        self, services: Services, adhoc: Profile | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.adhoc = adhoc
        # Screens' callback work (control actions, queue reads) and the feed's journal opens
        # and monitor starts: one pool, joined by tests after shutdown.
        self.background = Background(self)
        self.connection = ProfileConnection(self)
        self.feed = LiveFeed(self)
        self.shared = SharedHistoryFeed(self)
        self.workers_host = LocalWorkersHost(self)
        self.beat_host = LocalBeatHost(self)
        self.alerts = AlertsHost(self)

    # -- state, as the parts keep it --------------------------------------------------------
    @property
    def profile(self) -> Profile | None:
        return self.connection.profile

    @property
    def state(self) -> str:
        return self.connection.state

    @property
    def facts(self) -> ConnectionFacts | None:
        return self.connection.facts

    @property
    def app_config(self) -> EffectiveConfig | None:
        return self.connection.app_config

    @property
    def drift(self) -> Drift:
        return self.connection.drift

    @property
    def journal(self) -> Journal | None:
        return self.feed.journal

    @property
    def journal_open_error(self) -> str | None:
        """Why this profile's journal could not be opened; None while it opens or once open."""
        return self.feed.journal_open_error

    @property
    def journal_failing(self) -> bool:
        return self.feed.journal_failing

    @property
    def journal_opening(self) -> bool:
        """The profile's journal is being opened (on the pool): not yet there, not failed."""
        return self.feed.journal_opening

    @property
    def monitor(self) -> Monitor | None:
        return self.feed.monitor

    @property
    def supervisor(self) -> Supervisor | None:
        return self.workers_host.supervisor

    @property
    def local_workers(self) -> list[LocalWorker]:
        return self.workers_host.local_workers

    @property
    def quit_workers(self) -> str:
        """The window's answer on quit: 'stop', 'leave' or 'none'."""
        return self.workers_host.quit_workers

    @quit_workers.setter
    def quit_workers(self, answer: str) -> None:
        self.workers_host.quit_workers = answer

    @property
    def quit_grace_s(self) -> float:
        return self.workers_host.quit_grace_s

    @quit_grace_s.setter
    def quit_grace_s(self, seconds: float) -> None:
        self.workers_host.quit_grace_s = seconds

    # -- profiles and connection ------------------------------------------------------------
    def profile_names(self) -> list[str]:
        return self.connection.profile_names()

    def start(self, name: str | None = None) -> None:
        self.connection.start(name)

    def activate(self, name: str, *, remember: bool = True) -> None:
        self.connection.activate(name, remember=remember)

    def save(self, profile: Profile, replace_name: str | None) -> Profile:
        """Raises ProfileError with field messages; the dialog shows them.

        `replace_name` None means a new profile, which must not overwrite an existing one.
        """
        return self.connection.save(profile, replace_name)

    def after_save(self, saved: Profile, replace_name: str | None) -> None:
        """`services.profiles.save` ran elsewhere (a job thread): show what it saved."""
        self.connection.after_save(saved, replace_name)

    def remove(self, name: str) -> None:
        self.connection.remove(name)

    def reconnect(self) -> None:
        self.connection.reconnect()

    def accept_app_config(self) -> None:
        """The person accepts the app's changed configuration: it is what drift compares to."""
        self.connection.accept_app_config()

    def fail(self, message: str) -> None:
        """What went wrong opening a profile, shown as the connection's state."""
        self.connection.fail(message)

    def control(
        self,
        action: Callable[[Celery], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Run a control/send action with the panel's Celery app for this profile, off-thread."""
        self.connection.control(action, on_done, on_error)

    # -- actions on the cluster, audited ----------------------------------------------------
    def audit(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any] | None = None,
        *,
        outcome: str = OK,
        reply: Any = None,
    ) -> None:
        """Keep an action in the profile's audit log (monitor/audit.py). Blocking on the
        journal's lock: call it off the GUI thread (`audited_call` does)."""
        journal, profile = self.journal, self.profile
        if journal is None or profile is None:
            return
        AuditSink(journal, profile.name, "window").record(
            action, target, params, outcome=outcome, reply=reply
        )
        self.audited.emit()

    def audit_later(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any] | None = None,
        *,
        outcome: str = OK,
        reply: Any = None,
    ) -> None:
        """`audit` on the background pool, for an action done elsewhere (the queue inspector's
        remove and purge, a local worker started by its keeper)."""
        self.background.submit(
            lambda: self.audit(action, target, params, outcome=outcome, reply=reply),
            lambda _: None,
            lambda exc: log.warning("audit: %s", exc),
        )

    def audited_call(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any],
        call: Callable[[Celery], T],
        summary: Callable[[T], Any] | None = None,
    ) -> Callable[[Celery], T]:
        """`call`, kept in the audit log with its reply (or `summary(reply)`) or its error
        once it returns (on the pool thread that ran it)."""

        def run(app: Celery) -> T:
            try:
                result = call(app)
            except Exception as exc:
                self.audit(action, target, params, outcome=FAILED, reply=str(exc))
                raise
            self.audit(action, target, params, reply=summary(result) if summary else result)
            return result

        return run

    def control_audited(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any],
        call: Callable[[Celery], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """`control`, with the action kept in the audit log."""
        self.control(self.audited_call(action, target, params, call), on_done, on_error)

    async def act(
        self,
        action: str,
        target: str,
        params: Mapping[str, Any],
        call: Callable[[Celery], T],
        summary: Callable[[T], Any] | None = None,
    ) -> T:
        """`with_app`, with the action kept in the audit log."""
        return await self.with_app(self.audited_call(action, target, params, call, summary))

    async def send_canvas(
        self,
        drawn: Canvas,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """Send a canvas as the app would (canvas/sending.py), each task journaled with its
        queue and priority as the broker takes it, and the send kept in the audit log: the
        Builder's Send and the Overview's first run. Raises what sending raises (SendError
        with what went out). `progress` and `cancel`: sending's own (told on the pool)."""
        journal, not_opened = self.journal, self.journal_open_error
        config = self.app_config

        def work(app: Celery) -> Sent:
            def record(node: SentNode) -> None:
                if journal is None:  # sent all the same, and said to be in no history
                    raise RuntimeError(f"the task history could not be opened ({not_opened})")
                journal.record_submitted(
                    node.id, node.task, queue=node.queue, priority=node.priority
                )

            return send(drawn, app, record, config, progress, cancel)

        return await self.act(
            "send",
            drawn.name or "canvas",
            {},
            work,
            lambda sent: {"root_id": sent.root_id, "tasks": len(sent.nodes)},
        )

    def diagnose(
        self, task_id: str, timeout: float = WHY_TIMEOUT_S
    ) -> tuple[Diagnosis, list[str], str | None]:
        """Why a task has not run (core/diagnosis): its checks, the sources that did not
        answer within `timeout`, and its queue when known. Blocking (broker, backend, workers,
        the journal): call it off the GUI thread."""
        profile, config, journal = self.profile, self.app_config, self.journal
        if profile is None or config is None:
            raise RuntimeError("the profile's app is still being read")
        reader = open_reader(journal) if journal is not None else None  # a shared one too
        try:
            facts = gather_for(task_id, config, self.endpoints(profile, config), reader, timeout)
        finally:
            if reader is not None:
                reader.close()
        return diagnose(facts), list(facts.unanswered), task_queue(facts)

    async def with_app(self, action: Callable[[Celery], T]) -> T:
        """`control`, awaited from a job: `action` with this profile's Celery app on the pool.

        The answer lands in a future the job awaits, so a job cancelled meanwhile (a newer
        one, a closed screen, another profile) simply never sees it."""
        if self.profile is None:  # `control` would not call back at all
            raise RuntimeError("no profile is open")
        answer: asyncio.Future[T] = event_loop().create_future()

        def done(value: T) -> None:
            if not answer.done():
                answer.set_result(value)

        def failed(exc: BaseException) -> None:
            if not answer.done():
                answer.set_exception(exc)

        self.control(action, done, failed)
        return await answer

    def endpoints(self, profile: Profile, config: EffectiveConfig) -> Endpoints:
        """The profile's URLs, passwords restored, with the app's own result backend when the
        profile names none. Blocking only on the secret store: call it off the GUI thread."""
        return self.connection.endpoints(profile, config)

    # -- live feed --------------------------------------------------------------------------
    def learn_priorities(self, seen: dict[str, int]) -> None:
        """Called on a job thread: priorities learned off the broker go into the journal."""
        self.feed.learn_priorities(seen)

    # -- local workers ----------------------------------------------------------------------
    def poll_local_workers(self) -> None:
        self.workers_host.poll_local_workers()

    def note_worker_online(self, nodename: str) -> None:
        self.workers_host.note_worker_online(nodename)

    def start_local_worker(self, spec: WorkerSpec) -> None:
        self.workers_host.start_local_worker(spec)

    def stop_local_worker(self, name: str) -> None:
        self.workers_host.stop_local_worker(name)

    def kill_local_worker(self, name: str) -> None:
        self.workers_host.kill_local_worker(name)

    def restart_local_worker(self, name: str, grace_s: float) -> None:
        self.workers_host.restart_local_worker(name, grace_s)

    def forget_local_worker(self, name: str) -> None:
        self.workers_host.forget_local_worker(name)

    def running_local_workers(self) -> list[LocalWorker]:
        """Every profile's, not only the active one: quit asks about all of them."""
        return self.workers_host.running_local_workers()

    def running_here_and_elsewhere(self) -> tuple[int, int]:
        return self.workers_host.running_here_and_elsewhere()

    def stop_local_workers_on_quit(self, grace_s: float) -> list[LocalWorker]:
        return self.workers_host.stop_local_workers_on_quit(grace_s)

    # -- shutdown ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and threads, and stop the embedded broker unless the CLI asked to keep it."""
        self.connection.shutdown()
        self.workers_host.shutdown()
        self.beat_host.shutdown()
        self.shared.shutdown()
        self.background.shutdown()
        self.feed.shutdown()
        if self.workers_host.quit():
            # Local workers left running need their broker: the embedded one stays up.
            log.info("local workers still run: the embedded broker keeps running for them")
            return
        try:
            released = self.services.embedded.release()
            if released:
                log.info("embedded broker stopped")
        except Exception as exc:
            log.error("stopping the embedded broker failed: %s", exc)
