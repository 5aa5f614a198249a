"""What every fuzzed request over HTTP must satisfy, and the JSON mutations that make them."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers the tables
from storage.repositories import SqlStore
from tests.fuzz.texts import ODD_CHARACTERS, any_answer

# What a front door may answer a signed but garbled request: never a 500.
ANSWERS = {200, 400, 401, 403, 404, 413, 415}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False), st.text(max_size=30),
                         st.text(alphabet=ODD_CHARACTERS, max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
huge_text = st.integers(20_000, 200_000).map(lambda n: ("Très long " * (n // 10 + 1))[:n])
texts = any_answer | huge_text


def counts(store: SqlStore) -> dict[str, int]:
    """Rows in every table: a refused request must leave them as they were."""
    with store.engine.connect() as connection:
        return {table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in SQLModel.metadata.sorted_tables}


def mutate(document: dict[str, Any], edits: list[tuple[list[str], str, Any]]) -> dict[str, Any]:
    """A copy of `document` with each edit applied: at the path (dict keys, or "0" for a
    list's first item; a step that is not there stops the edit), "drop" the key or item,
    or "set" it to the value."""
    changed = copy.deepcopy(document)
    for path, how, value in edits:
        node: Any = changed
        for key in path[:-1]:
            node = _step(node, key)
        last: Any = path[-1]
        if isinstance(node, list) and last.isdigit() and int(last) < len(node):
            last = int(last)
        elif not isinstance(node, dict):
            continue
        if how == "drop" and isinstance(node, list):
            del node[last]
        elif how == "drop":
            node.pop(last, None)
        else:
            node[last] = value
    return changed


def _step(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return None


def edits(paths: list[list[str]], values: st.SearchStrategy[Any] = json_values,
          ) -> st.SearchStrategy[list[tuple[list[str], str, Any]]]:
    return st.lists(st.tuples(st.sampled_from(paths), st.sampled_from(["set", "set", "drop"]), values),
                    max_size=4)


class Failures(logging.Handler):
    """Log records that mean an input raised somewhere: a failed turn (the reader got an
    apology instead of an answer), a listener that raised, a request aiohttp turned into a 500."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        failed_turn = getattr(record, "event", "") in ("turn.failed", "turn.apology_failed")
        if failed_turn or (record.levelno >= logging.ERROR and record.exc_info):
            self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()} {self.format(r) if r.exc_info else ''}"
                 for r in self.records]
        self.records.clear()
        return found


@contextmanager
def watching_failures() -> Iterator[Failures]:
    handler = Failures()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def assert_answered_well(status: int, body: str) -> None:
    assert status in ANSWERS, f"{status}: {body[:500]}"
    assert "Traceback" not in body and 'File "' not in body, body[:500]
