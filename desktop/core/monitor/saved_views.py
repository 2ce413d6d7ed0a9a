"""Saved views of the Tasks screen: a named query (task_search's language) with its sort and
columns, kept per profile in a TOML file beside profiles.toml (`views/<profile key>.toml`).

Why a file of its own rather than a table in profiles.toml: a view is saved with one click, so
it is written often, and a profile is validated as a whole (`Profile.from_dict` refuses what it
does not know): a damaged views file must cost the views only, never the profile.

Reading never fails: no file gives DEFAULT_VIEWS, and a damaged one (not TOML, a view of the
wrong shape) gives DEFAULT_VIEWS with `problem` saying what is wrong, for the screen to show.
Writing is atomic, and never over a file that could not be read: that one is moved aside
(`.damaged`) first, so a person's hand edit is never lost. Qt-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.core.monitor.journal_schema import SORTABLE
from desktop.core.monitor.rates import percentiles
from desktop.core.monitor.task_search import MAX_TERMS, field_term
from desktop.core.settings.config_errors import os_problem
from desktop.core.settings.paths import Paths, profile_key
from desktop.core.settings.table_lists import read_table_list, write_table_list

MAX_NAME_CHARS = 64
# Views whose rule the query language cannot say: their query is made when they are used.
# "slow": tasks whose runtime is past the 99th percentile of their own task name.
COMPUTED_KINDS = ("slow",)
# The Slow view's p99s are read from the latest succeeded tasks (JournalReader.recent_runtimes):
# a bounded read at any journal size. Each name is two terms of the query it makes.
SLOW_SAMPLE = 100_000
SLOW_MAX_NAMES = MAX_TERMS // 2


@dataclass(frozen=True)
class SavedView:
    """What a click on the view sets on the Tasks screen. `columns` are the column keys shown
    (empty: all of them); `computed` names a rule from COMPUTED_KINDS, whose query is made
    from the journal when the view is used (then `query` is only what it starts from)."""

    name: str
    query: str
    sort: str = "sent"
    descending: bool = True
    columns: tuple[str, ...] = ()
    computed: str = ""

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"name": self.name, "query": self.query, "sort": self.sort}
        table["descending"] = self.descending
        if self.columns:
            table["columns"] = list(self.columns)
        if self.computed:
            table["computed"] = self.computed
        return table


DEFAULT_VIEWS: tuple[SavedView, ...] = (
    SavedView("Failed last hour", "state:FAILURE after:-1h"),
    SavedView("Running", "state:STARTED", sort="started"),
    # sent (else received) over a minute ago and still not started: AND binds tighter than OR
    SavedView(
        "Waiting > 1 min", "state:PENDING before:-1m OR state:RECEIVED before:-1m", sort="sent"
    ),
    SavedView("Retried", "retries>=1", sort="retries"),
    SavedView("Slow", "", sort="runtime", computed="slow"),
)


@dataclass(frozen=True)
class ViewsLoaded:
    """The views to show, and why they are the defaults when the file could not be read."""

    views: tuple[SavedView, ...]
    problem: str | None = None
    path: Path | None = None


def views_path(paths: Paths, profile_name: str) -> Path:
    """One file per profile, named like its journal (`profile_key`)."""
    return paths.config_dir / "views" / f"{profile_key(profile_name)}.toml"


def view_problem(view: SavedView, others: tuple[SavedView, ...] = ()) -> str | None:
    """What makes `view` unfit to save beside `others` (the rest of the list), else None."""
    name = view.name.strip()
    if not name or name != view.name or len(name) > MAX_NAME_CHARS:
        return f"a view's name is 1-{MAX_NAME_CHARS} characters without outer spaces"
    if any(o.name == name for o in others):
        return f"there is already a view named '{name}'"
    if view.sort not in SORTABLE:
        return f"view '{name}': cannot sort by '{view.sort}'"
    if view.computed and view.computed not in COMPUTED_KINDS:
        return f"view '{name}': unknown computed view '{view.computed}'"
    return None


def _view_of(table: Any, index: int) -> SavedView:
    """A [[views]] table as a SavedView; ValueError names the view and the field."""
    where = f"view {index + 1}"
    if not isinstance(table, dict):
        raise ValueError(f"{where} is not a table")
    unknown = set(table) - {"name", "query", "sort", "descending", "columns", "computed"}
    if unknown:
        raise ValueError(f"{where}: unknown setting(s): {', '.join(sorted(unknown))}")
    texts: dict[str, str] = {}
    for key, default in (("name", None), ("query", ""), ("sort", "sent"), ("computed", "")):
        value = table.get(key, default)
        if not isinstance(value, str):
            raise ValueError(f"{where}: '{key}' must be text")
        texts[key] = value
    descending = table.get("descending", True)
    if not isinstance(descending, bool):
        raise ValueError(f"{where}: 'descending' must be true or false")
    columns = table.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"{where}: 'columns' must be a list of column names")
    return SavedView(
        texts["name"], texts["query"], texts["sort"], descending, tuple(columns),
        texts["computed"],
    )  # fmt: skip


def read_views(path: Path) -> tuple[SavedView, ...] | None:
    """The views the file holds; None when there is no file. ValueError says what is wrong
    with a file that cannot be read as views (OSError: the file system's reason)."""
    tables = read_table_list(path, "views")
    if tables is None:
        return None
    views: list[SavedView] = []
    for index, table in enumerate(tables):
        view = _view_of(table, index)
        problem = view_problem(view, tuple(views))
        if problem:
            raise ValueError(problem)
        views.append(view)
    return tuple(views)


def load_views(path: Path) -> ViewsLoaded:
    """The file's views, DEFAULT_VIEWS when there is none, and DEFAULT_VIEWS with the problem
    when it cannot be read: never an exception (the screen shows the problem)."""
    try:
        views = read_views(path)
    except ValueError as exc:
        return ViewsLoaded(DEFAULT_VIEWS, f"{path} {exc}; the default views are shown", path)
    except OSError as exc:
        problem = os_problem(exc, "read it")
        return ViewsLoaded(DEFAULT_VIEWS, f"{path}: {problem}; the default views are shown", path)
    return ViewsLoaded(DEFAULT_VIEWS if views is None else views, None, path)


def save_views(path: Path, views: tuple[SavedView, ...]) -> Path | None:
    """Write the views atomically (tomlkit). A file there that cannot be read as views is
    moved aside to `<name>.damaged` first, never written over; its new path is returned.
    ValueError when a view is unfit (`view_problem`); ConfigFileError when the disk refuses."""
    for index, view in enumerate(views):
        problem = view_problem(view, views[:index])
        if problem:
            raise ValueError(problem)
    tables = [each.to_table() for each in views]
    return write_table_list(
        path,
        "views",
        tables,
        "Saved views of the Tasks screen (Celery Desk), one per table.",
        read_views,
    )


@dataclass
class ViewList:
    """The views of one profile as the screen edits them: add, rename, remove, each saved at
    once. Blocking on the disk: the screen calls `save` off the GUI thread."""

    views: list[SavedView] = field(default_factory=list)

    def named(self, name: str) -> SavedView | None:
        return next((v for v in self.views if v.name == name), None)

    def added(self, view: SavedView) -> tuple[SavedView, ...]:
        """The list with `view` in place of the one of its name, else at the end."""
        if self.named(view.name) is None:
            return (*self.views, view)
        return tuple(view if v.name == view.name else v for v in self.views)

    def renamed(self, old: str, new: str) -> tuple[SavedView, ...]:
        if old != new and self.named(new) is not None:
            raise ValueError(f"there is already a view named '{new}'")
        found = [SavedView(new, *_rest(v)) if v.name == old else v for v in self.views]
        problem = next((view_problem(v) for v in found if v.name == new), None)
        if problem:
            raise ValueError(problem)
        return tuple(found)

    def removed(self, name: str) -> tuple[SavedView, ...]:
        return tuple(v for v in self.views if v.name != name)


def _rest(view: SavedView) -> tuple[Any, ...]:
    return view.query, view.sort, view.descending, view.columns, view.computed


def slow_query(runtimes: Iterable[tuple[str, float]]) -> str | None:
    """The Slow view's query: `name:N runtime>P99` for each task name, ORed, P99 the 99th
    percentile (rates.percentiles) of that name's runtimes in `runtimes` (name, seconds). The
    SLOW_MAX_NAMES names with the most runtimes, when there are more; None when there is none.
    The query is plain text in the search box, so a person sees each threshold and can edit it.
    """
    by_name: dict[str, list[float]] = {}
    for name, runtime in runtimes:
        by_name.setdefault(name, []).append(runtime)
    busiest = sorted(by_name, key=lambda n: (-len(by_name[n]), n))[:SLOW_MAX_NAMES]
    terms = [
        f"{field_term('name', name)} runtime>{_millis_up(percentiles(sorted(by_name[name]))[2])!r}"
        for name in sorted(busiest)
    ]
    return " OR ".join(terms) or None


def _millis_up(seconds: float) -> float:
    """A threshold as the table shows runtimes (to the millisecond), rounded up: the query
    stays short to read, and never calls slow a task at the p99 itself."""
    return math.ceil(seconds * 1000) / 1000
