"""Saved views of the Tasks screen: kept per profile as TOML, the defaults when there is no
file, the defaults and a clear problem when the file is damaged (never an exception), and a
damaged file moved aside, never written over."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from desktop.core.monitor.journal import Journal
from desktop.core.monitor.saved_views import (
    DEFAULT_VIEWS,
    SLOW_MAX_NAMES,
    SavedView,
    ViewList,
    load_views,
    save_views,
    slow_query,
    views_path,
)
from desktop.core.monitor.task_query import TaskQuery
from desktop.core.monitor.task_search import parse
from desktop.core.settings.paths import Paths
from tests.factories import task_row


def test_no_file_gives_the_defaults_each_of_which_parses(tmp_path: Path) -> None:
    loaded = load_views(tmp_path / "views.toml")
    assert loaded.views == DEFAULT_VIEWS and loaded.problem is None
    assert [v.name for v in DEFAULT_VIEWS] == [
        "Failed last hour", "Running", "Waiting > 1 min", "Retried", "Slow"
    ]  # fmt: skip
    for view in DEFAULT_VIEWS:
        parse(view.query)  # raises SearchSyntaxError if a default could not be read


def test_views_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "views" / "p.toml"
    views = (
        SavedView("Mine", 'name:"proj add" -state:SUCCESS', "runtime", False, ("id", "name")),
        SavedView("Slow", "", "runtime", computed="slow"),
    )
    assert save_views(path, views) is None
    assert load_views(path).views == views
    assert path.stat().st_mode & 0o777 == 0o600
    assert "[[views]]" in path.read_text()
    assert save_views(path, ()) is None  # every view deleted: none, not the defaults
    assert load_views(path).views == ()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[[views]\nname = ", "is not valid TOML"),
        ("views = 3\n", "'views' must be a list"),
        ('[[views]]\nquery = "x"\n', "'name' must be text"),
        ('[[views]]\nname = "a"\ndescending = "yes"\n', "'descending' must be true or false"),
        ('[[views]]\nname = "a"\nsort = "nope"\n', "cannot sort by 'nope'"),
        ('[[views]]\nname = "a"\n[[views]]\nname = "a"\n', "already a view named 'a'"),
        ('[[views]]\nname = "a"\ncolour = 1\n', "unknown setting(s): colour"),
    ],
)
def test_a_damaged_file_gives_the_defaults_and_says_why(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "views.toml"
    path.write_text(text)
    loaded = load_views(path)
    assert loaded.views == DEFAULT_VIEWS
    assert loaded.problem is not None and said in loaded.problem and str(path) in loaded.problem
    # saving then keeps the damaged file aside, and writes the new list
    aside = save_views(path, (SavedView("New", "retries>=2"),))
    assert aside is not None and aside.read_text() == text
    assert load_views(path).views == (SavedView("New", "retries>=2"),)


def test_bytes_that_are_not_text_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "views.toml"
    path.write_bytes(b"\xff\xfe\x00views")
    assert "not UTF-8" in str(load_views(path).problem)


def test_unfit_views_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "views.toml"
    for bad in (SavedView("", "x"), SavedView(" pad", "x"), SavedView("x" * 65, "x")):
        with pytest.raises(ValueError, match="name"):
            save_views(path, (bad,))
    with pytest.raises(ValueError, match="already a view named"):
        save_views(path, (SavedView("a", "x"), SavedView("a", "y")))
    assert not path.exists()


def test_add_rename_remove() -> None:
    views = ViewList(list(DEFAULT_VIEWS))
    added = ViewList(list(views.added(SavedView("Mine", "queue:q1"))))
    assert [v.name for v in added.views][-1] == "Mine"
    replaced = added.added(SavedView("Mine", "queue:q2"))
    assert [v.query for v in replaced if v.name == "Mine"] == ["queue:q2"]
    renamed = ViewList(list(added.renamed("Mine", "Queue one")))
    assert renamed.named("Queue one") is not None and renamed.named("Mine") is None
    with pytest.raises(ValueError, match="already a view named 'Running'"):
        renamed.renamed("Queue one", "Running")
    with pytest.raises(ValueError, match="name"):
        renamed.renamed("Queue one", "  ")
    assert "Queue one" not in [v.name for v in renamed.removed("Queue one")]


def test_views_are_kept_per_profile_beside_profiles_toml(tmp_path: Path) -> None:
    paths = Paths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    assert views_path(paths, "team a") != views_path(paths, "team@a")
    assert views_path(paths, "prod").parent == paths.profiles_file.parent / "views"


def test_the_slow_query_finds_tasks_past_the_p99_of_their_own_name(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    now = time.time()
    rows = [
        task_row(f"a{i}", name="fast add", state="SUCCESS", sent=now - i, runtime=0.01 * (i + 1))
        for i in range(200)
    ] + [
        task_row(f"b{i}", name="proj.slow", state="SUCCESS", sent=now - i, runtime=10.0 + i)
        for i in range(200)
    ]
    journal.write(rows, [])
    query = slow_query(journal.recent_runtimes(100_000))
    assert query is not None
    # a.199 (2.0 s) is slow for its name, where b's 10 s are usual for theirs
    search = parse(query)
    slow = {r["id"] for r in journal.page(TaskQuery(search=search), limit=1000)}
    assert slow == {"a198", "a199", "b198", "b199"}
    assert journal.count(TaskQuery(search=search)) == 4
    assert 'name:"fast add" runtime>1.981 OR name:proj.slow runtime>207.01' in query
    journal.close()


def test_the_slow_query_stays_within_the_language_s_term_limit() -> None:
    runtimes = [(f"task{n}", float(i)) for n in range(SLOW_MAX_NAMES + 20) for i in range(3)]
    query = slow_query(runtimes)
    assert query is not None and query.count(" OR ") == SLOW_MAX_NAMES - 1
    parse(query)
    assert slow_query([]) is None
