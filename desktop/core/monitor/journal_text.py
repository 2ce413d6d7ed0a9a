"""The journal's text index (schema 6): an FTS5 table of trigrams over the columns free words
search, so a word found in a few of a million tasks is read from the index instead of by a
LIKE over every row (1.2-1.9 s).

External content (`content='tasks'`): the index holds only the trigrams, the text stays in
`tasks`. Rows are indexed later, in bulk (schema 7): the triggers only note a new row, or one
whose searched text changed, in `tasks_unindexed` (taking an indexed row's old text out of the
index first), and `index_pending` indexes the noted rows a chunk at a time off the thread that
receives events (`Journal.index_text`, the monitor's `journal-text` thread). Why: indexed by
the triggers, each task's text was tokenized three times in its life (received, then its
result: the old text out, the new in), one statement per batch, which made the journal's write
200 us an event in a flood; a task indexed once, when it has settled, costs ~10 us, in SQL
with Python's lock released. A search reads the rows not indexed yet beside the index's
(`narrowing`): it finds the same rows at any time. Trigrams find any piece of text of 3
characters or more anywhere in a value, the "contains" the search language promises; shorter
pieces are left to LIKE.

The index only narrows: it folds case beyond ASCII (`é` finds `É`, which LIKE tells apart), so
a condition keeps its LIKE beside it and the rows chosen are exactly those of the LIKE alone
(task_query.FilterTerm). And it is used only where it is faster: a word in most rows (`eu-1`
in 200,000 of them) is found by the scan in a few milliseconds, as the page's first rows
match, while reading its 200,000 row ids from the index takes a second. The same count decides
for the other conditions of a page (`TextIndex.sets_aside`, `only_many`): a comparison few rows
hold is read from its column's index, an equality many rows hold (`name:` of 83,265 tasks) has
its column's index set aside so SQLite walks the page's order and stops at a page, and an OR
with a part many rows hold is left to that walk whole. Qt-free.

The index names rows by `tasks`' rowid, which the journal never renumbers; a VACUUM may (the
table has no INTEGER PRIMARY KEY), so whatever runs one must run REBUILD after it and empty
`tasks_unindexed`, or searches miss rows (the LIKE beside the index keeps them from finding
wrong ones).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from desktop.core.monitor.task_query import SEARCHED

TEXT_TABLE = "tasks_fts"
TEXT_COLUMNS = SEARCHED  # the id too: a piece of an id is found by a free word
SHORTEST = 3  # a trigram: a shorter piece is in no token, and only LIKE finds it
# A piece is asked of the index by its first characters only (any part of it is in every row
# that holds it): a pasted page of text as one phrase of thousands of trigrams took the index
# seconds on a row of repeated characters.
LONGEST = 64
# More rows than this and the scan in the page's order finds a page sooner than the index
# gives its rows (1M tasks: ~5 us a row read from the index, sorted, and tested; the scan
# ~2.5 us a row, reading ~page / share rows: equal near 15,000 matches for a page of 500).
MOST_ROWS = 10_000

_COLUMN_LIST = ", ".join(TEXT_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in TEXT_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in TEXT_COLUMNS)
_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in TEXT_COLUMNS)
# The rows of `tasks` (by rowid) whose text the index does not hold yet.
PENDING_TABLE = "tasks_unindexed"
_INDEXED_OLD = f"NOT EXISTS (SELECT 1 FROM {PENDING_TABLE} WHERE task_rowid = old.rowid)"
# An indexed row's old text out of the index (external content: the 'delete' command needs
# the text it was indexed with, which is the row's until its text changes).
_FORGET_OLD = (
    f"INSERT INTO {TEXT_TABLE}({TEXT_TABLE}, rowid, {_COLUMN_LIST}) "
    f"SELECT 'delete', old.rowid, {_OLD} WHERE {_INDEXED_OLD};"
)
# Not `INSERT OR IGNORE`: the statement firing the trigger (the journal's upsert) overrides
# a trigger's conflict rule, so a row noted twice would fail the whole batch.
_NOTE_NEW = (
    f"INSERT INTO {PENDING_TABLE}(task_rowid) SELECT new.rowid "
    f"WHERE NOT EXISTS (SELECT 1 FROM {PENDING_TABLE} WHERE task_rowid = new.rowid);"
)
_UNNOTE_OLD = f"DELETE FROM {PENDING_TABLE} WHERE task_rowid = old.rowid;"
# Schema 6's triggers, which indexed every write at once: dropped by `defer_text_index`.
_EAGER_TRIGGERS = ("tasks_fts_insert", "tasks_fts_delete", "tasks_fts_update")
# One statement each (a trigger's body has its own semicolons): executed one by one inside
# the migration's transaction, joined into journal_schema.SCHEMA for a new journal.
TEXT_INDEX_DDL = (
    f"CREATE TABLE IF NOT EXISTS {PENDING_TABLE} (task_rowid INTEGER PRIMARY KEY)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TEXT_TABLE} USING fts5({_COLUMN_LIST}, "
    "content='tasks', content_rowid='rowid', tokenize='trigram', columnsize=0)",
    f"CREATE TRIGGER IF NOT EXISTS tasks_text_insert AFTER INSERT ON tasks BEGIN {_NOTE_NEW} END",
    f"CREATE TRIGGER IF NOT EXISTS tasks_text_delete AFTER DELETE ON tasks "
    f"BEGIN {_FORGET_OLD} {_UNNOTE_OLD} END",
    f"CREATE TRIGGER IF NOT EXISTS tasks_text_update AFTER UPDATE OF {_COLUMN_LIST} ON tasks "
    f"WHEN {_CHANGED} BEGIN {_FORGET_OLD} {_NOTE_NEW} END",
)
REBUILD = f"INSERT INTO {TEXT_TABLE}({TEXT_TABLE}) VALUES ('rebuild')"
_TASK_COLUMNS = ", ".join(f"t.{c}" for c in TEXT_COLUMNS)


def index_pending(db: sqlite3.Connection, limit: int, upto: int | None = None) -> int:
    """Index the first `limit` noted rows (those noted up to rowid `upto` only), in one
    statement: call it inside a write transaction. Returns how many rows it indexed."""
    bound = "" if upto is None else f"WHERE task_rowid <= {int(upto)} "
    chosen = db.execute(
        f"SELECT max(task_rowid), count(*) FROM (SELECT task_rowid FROM {PENDING_TABLE} "
        f"{bound}ORDER BY task_rowid LIMIT ?)",
        (limit,),
    ).fetchone()
    last, count = chosen[0], int(chosen[1])
    if not count:
        return 0
    db.execute(
        f"INSERT INTO {TEXT_TABLE}(rowid, {_COLUMN_LIST}) SELECT t.rowid, {_TASK_COLUMNS} "
        f"FROM {PENDING_TABLE} AS p JOIN tasks AS t ON t.rowid = p.task_rowid "
        "WHERE p.task_rowid <= ? ORDER BY p.task_rowid",
        (last,),
    )
    db.execute(f"DELETE FROM {PENDING_TABLE} WHERE task_rowid <= ?", (last,))
    return count


def last_pending(db: sqlite3.Connection) -> int | None:
    """The newest noted row: a pass indexes up to it, leaving later ones to settle."""
    row = db.execute(f"SELECT max(task_rowid) FROM {PENDING_TABLE}").fetchone()
    return None if row[0] is None else int(row[0])


def has_eager_triggers(db: sqlite3.Connection) -> bool:
    """Whether schema 6's triggers are on the table (put back by an older Celery Desk)."""
    marks = ",".join("?" * len(_EAGER_TRIGGERS))
    found = db.execute(
        f"SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
        _EAGER_TRIGGERS,
    ).fetchone()
    return found is not None


def defer_text_index(db: sqlite3.Connection) -> bool:
    """Schema 6 to 7: the triggers that indexed every write replaced by those that note rows
    for `index_pending` (the index itself is kept: every row in it is current). Returns
    whether it changed the journal (another writer may have done it).

    Also a repair: a Celery Desk of schema 6 writing the same file (a recorder not upgraded
    yet) puts its triggers back beside these, and rows are then indexed twice. Found at any
    open for writing, they are dropped and the index rebuilt from the table (a minute at a
    million tasks, on the session's pool), every noted row with it."""
    pending, eager = has_pending_table(db), has_eager_triggers(db)
    if not has_text_index(db) or (pending and not eager):
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        changed = not has_pending_table(db) or has_eager_triggers(db)
        if changed:
            rebuild = has_pending_table(db)  # both kinds of trigger wrote: index unsure
            for trigger in _EAGER_TRIGGERS:
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            for statement in TEXT_INDEX_DDL:
                db.execute(statement)
            if rebuild:
                db.execute(REBUILD)
                db.execute(f"DELETE FROM {PENDING_TABLE}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return changed


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether the journal has this table (one of an older schema may not, read-only)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def has_pending_table(db: sqlite3.Connection) -> bool:
    """Whether rows are noted for the index to take later (schema 7)."""
    return has_table(db, PENDING_TABLE)


def has_text_index(db: sqlite3.Connection) -> bool:
    """Whether this journal has the index (a read-only reader of a journal at schema 3, not
    migrated yet, searches by LIKE alone)."""
    return has_table(db, TEXT_TABLE)


def add_text_index(db: sqlite3.Connection) -> bool:
    """Schema 3 to 4: the index made and filled from every task in one transaction (a reader
    sees the journal before or after, never half indexed; 43-61 s on a million tasks, on the
    session's pool). Returns whether it was added (another writer may have done it). A
    journal that has it is not locked to find out."""
    if has_text_index(db):
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        if has_text_index(db):  # made by another writer while this one waited for the lock
            db.execute("COMMIT")
            return False
        for statement in TEXT_INDEX_DDL:
            db.execute(statement)
        db.execute(REBUILD)
        db.execute(f"DELETE FROM {PENDING_TABLE}")  # every row is indexed now
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return True


def fts_string(text: str) -> str:
    """`text` as an FTS5 string: every character literal, a quote doubled."""
    return '"' + text.replace('"', '""') + '"'


class TextIndex:
    """The index of one connection, as a condition asks it (task_query.TextIndex). Called
    with the connection's lock held: it reads to tell a rare piece of text from a common one.
    As made, it advises a count; `for_page` advises a page read in an order."""

    def __init__(self, db: sqlite3.Connection, most_rows: int | None = MOST_ROWS) -> None:
        """`most_rows` None: always narrow through the index, however many rows (tests)."""
        self._db = db
        self._most_rows = most_rows
        self._order: str | None = None  # the page's sort column; None: a count
        self._equal: frozenset[str] = frozenset()  # columns the rest of the query holds equal
        self._indexes: tuple[tuple[str, ...], ...] | None = None
        self._walk = False  # every condition left to the walk of the page's order
        self._answers: list[bool] | None = None  # what counts since `asking()` found: few
        self._pending: bool | None = None  # whether the journal notes rows to index later

    def for_page(self, order_by: str) -> TextIndex:
        """This advisor for a page sorted by `order_by` (then by id), where an equality many
        rows hold is found sooner by walking that order (`sets_aside`)."""
        return self._copy(order_by, self._equal)

    def beside(self, columns: Iterable[str]) -> TextIndex:
        """This advisor for the conditions ANDed with equalities on `columns`: an index that
        reads them together in the page's order is kept (`name:` and `state:` by `sent`)."""
        return self._copy(self._order, self._equal | set(columns))

    def asking(self) -> TextIndex:
        """This advisor, hearing afresh what its counts find (`only_many`)."""
        advisor = self._copy(self._order, self._equal)
        advisor._answers = []
        return advisor

    def only_many(self) -> bool:
        """Whether, for a page, every count since `asking()` found many rows (and there was
        one): the condition asked is read by the walk of the page's order."""
        answers = self._answers or []
        return self._walks() and bool(answers) and not any(answers)

    def walking(self) -> TextIndex:
        """This advisor sending every condition to the walk of the page's order: no text
        narrowed, no comparison read from its index, every equality's index set aside, and
        nothing counted."""
        advisor = self._copy(self._order, self._equal)
        advisor._walk = True
        return advisor

    def _copy(self, order: str | None, equal: Iterable[str]) -> TextIndex:
        advisor = TextIndex(self._db, self._most_rows)
        advisor._order, advisor._equal = order, frozenset(equal)
        advisor._indexes, advisor._walk = self._tasks_indexes(), self._walk
        advisor._pending = self._pending
        advisor._answers = self._answers  # heard by whoever asked (None: nobody listens)
        return advisor

    def sets_aside(self, column: str, clause: str, params: list[Any]) -> bool:
        """Whether the equality `clause` on `column` is best found by walking the page's order
        with the column's index set aside: read through that index, SQLite takes every row
        holding it and sorts them (`name:` of 83,265 tasks: 175-250 ms at a million), while
        the walk meets a page within page / share rows (11 ms). The same rule as text's:
        counted first, few through the index, many by the walk. Never for a count (the index
        counts them at once), for an order no index reads (no walk: every row is sorted), for a
        column no index leads (nothing to set aside), or where an index reads the equalities'
        rows in the page's order already (`state:` by `sent`)."""
        if not self._walks() or self._walk:
            return self._walks()
        equal = self._equal | {column}
        following = "id" if self._order in equal else self._order
        indexes = self._tasks_indexes()
        if not any(columns[0] == column for columns in indexes):
            return False
        for columns in indexes:
            held = 0
            while held < len(columns) and columns[held] in equal:
                held += 1
            ordered = held == len(columns) or columns[held] == following
            if column in columns[:held] and ordered:
                return False
        return not self.few(clause, params)

    def _walks(self) -> bool:
        """Whether this advises a page whose order an index reads (a walk that can stop)."""
        return self._order is not None and any(c[0] == self._order for c in self._tasks_indexes())

    def _tasks_indexes(self) -> tuple[tuple[str, ...], ...]:
        """The columns of each full index of `tasks`, in order (read once: a schema change
        while a reader is open only costs a plan, never a row)."""
        if self._indexes is None:
            columns: dict[str, list[str]] = {}
            for index, column in self._db.execute(
                "SELECT list.name, info.name FROM pragma_index_list('tasks') AS list, "
                "pragma_index_info(list.name) AS info WHERE NOT list.partial "
                "ORDER BY list.name, info.seqno"
            ):  # a partial index holds only some rows
                columns.setdefault(index, []).append(column)
            self._indexes = tuple(tuple(c) for c in columns.values())
        return self._indexes

    def narrowing(
        self, columns: Sequence[str], pieces: Sequence[str]
    ) -> tuple[str, list[Any]] | None:
        """A WHERE fragment choosing a superset of the rows where one of `columns` holds every
        one of `pieces` (ASCII case ignored), or None when the index cannot help: a column it
        does not hold, no piece of SHORTEST characters, or the pieces found in more than
        `most_rows` rows."""
        usable = [piece[:LONGEST] for piece in pieces if len(piece) >= SHORTEST]
        if self._walk or not usable or not set(columns) <= set(TEXT_COLUMNS):
            return None
        match = "{" + " ".join(columns) + "}: (" + " AND ".join(map(fts_string, usable)) + ")"
        if self._most_rows is not None and not self._heard(self._found_in(match)):
            return None
        return f"rowid IN ({self._candidates()})", [match]

    def _candidates(self) -> str:
        """The rowids the index finds for one MATCH parameter, and those it holds no text
        of yet (noted for `index_pending`): a superset, which the LIKE beside narrows."""
        found = f"SELECT rowid FROM {TEXT_TABLE} WHERE {TEXT_TABLE} MATCH ?"
        if self._pending is None:
            self._pending = has_pending_table(self._db)
        if not self._pending:  # a journal not migrated to schema 7 yet: indexed by triggers
            return found
        return f"{found} UNION ALL SELECT task_rowid FROM {PENDING_TABLE}"

    def few(self, clause: str, params: list[Any]) -> bool:
        """Whether `clause` holds in at most `most_rows` rows (counted up to one more, from
        the column's index: a common value stops early)."""
        if self._walk or self._most_rows is None:
            return not self._walk
        found = f"SELECT 1 FROM tasks WHERE {clause} LIMIT ?"
        row = self._db.execute(
            f"SELECT count(*) FROM ({found})", [*params, self._most_rows + 1]
        ).fetchone()
        return self._heard(int(row[0]))

    def _heard(self, rows: int) -> bool:
        """Whether `rows` (a count up to one more than `most_rows`) are few, noted for
        `only_many`."""
        few = rows <= (self._most_rows or 0)
        if self._answers is not None:
            self._answers.append(few)
        return few

    def _found_in(self, match: str) -> int:
        """How many rows hold the pieces, counted up to one more than `most_rows` (the index
        gives its rows one at a time: a common word stops early)."""
        found = f"SELECT 1 FROM ({self._candidates()}) LIMIT ?"
        limit = (self._most_rows or 0) + 1
        row = self._db.execute(f"SELECT count(*) FROM ({found})", (match, limit)).fetchone()
        return int(row[0])
