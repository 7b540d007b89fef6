"""Keyset pagination: newest first (``keyset_page``: the rows whose key is below
``?before=``), or forward by a unique string key (``forward_page``: the rows after
``?after=``, e.g. a shop tree's paths in the tree's order).

Unlike OFFSET, a page costs the same however deep it is, and rows added
meanwhile do not shift what the next page shows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import request
from sqlalchemy import Select

from kameng.core.extensions import db

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    older: int | None  # ``before`` for the next (older) page; None on the last one


def requested_before() -> int | None:
    """The request's ``?before=`` key, if any."""
    return request.args.get("before", type=int) or None


def page_from(fetch: Callable[[int, int | None], list[T]], size: int,
              key: Callable[[T], int], before: int | None = None) -> Page[T]:
    """A page of what ``fetch(limit, before)`` returns (newest first, keys below ``before``)."""
    rows = fetch(size + 1, before)
    return Page(rows[:size], key(rows[size - 1]) if len(rows) > size else None)


def keyset_page(query: Select, column: Any, size: int, before: int | None = None, *,
                rows: Select | None = None) -> Page:
    """A page of ``query``'s entities ordered by ``column`` descending.

    With ``rows`` (a select of the entities, with its loader options), the page's keys
    come first — ``query`` reduced to ``column``, which an index on the filter's columns
    and the key answers without reading the rows — and then ``rows`` by those keys, one
    statement: for a filter whose matches no index keeps in the key's order (the orders
    of a subtree's shops, each shop's in its own part of an index), a page reads the
    matches' keys, sorts them and fetches the page's rows only, instead of fetching
    every match's row, spread over the whole table, to keep a page of them."""
    def fetch(limit: int, below: int | None) -> list:
        if below:
            query_below = query.where(column < below)
        else:
            query_below = query
        if rows is None:
            return list(db.session.scalars(query_below.order_by(column.desc()).limit(limit)))
        keys = (query_below.with_only_columns(column).order_by(column.desc()).limit(limit)
                .scalar_subquery().correlate(None))
        return list(db.session.scalars(rows.where(column.in_(keys)).order_by(column.desc())))

    return page_from(fetch, size, lambda row: getattr(row, column.key), before)


@dataclass(frozen=True, slots=True)
class ForwardPage(Generic[T]):
    rows: list[T]
    after: Any | None  # ``after`` for the next page; None on the last one


def requested_after() -> str | None:
    """The request's ``?after=`` key (a string key, such as a shop's tree path), if any;
    one PostgreSQL cannot compare (a NUL character) is no key."""
    value = (request.args.get("after") or "").strip()[:512]
    return value if value and "\x00" not in value else None


def forward_page(query: Select, column: Any, size: int, after: Any | None = None
                 ) -> ForwardPage:
    """A page of ``query``'s entities ordered by ``column`` ascending, after ``after``
    (a unique key, such as the tree's materialized path: its order is the tree's)."""
    if after is not None:
        query = query.where(column > after)
    rows = list(db.session.scalars(query.order_by(column).limit(size + 1)))
    return ForwardPage(rows[:size], getattr(rows[size - 1], column.key)
                       if len(rows) > size else None)
