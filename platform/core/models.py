"""Declarative base and mixins shared by every domain package."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    declared_attr,
    make_transient_to_detached,
    mapped_column,
    registry,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger keys on PostgreSQL; SQLite only autoincrements "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def detached_copy(obj, **related):
    """A copy of ``obj``'s columns (and the ``related`` objects given), detached: what a
    per-process cache keeps and merges into a request's session without a query
    (``session.merge(copy, load=False)``). The loaded object belongs to its session."""
    mapper = type(obj).__mapper__
    copy = mapper.class_(**{a.key: getattr(obj, a.key) for a in mapper.column_attrs},
                         **related)
    make_transient_to_detached(copy)
    return copy


def one_of(column: str, values) -> str:
    """The SQL of a check that ``column`` holds one of ``values`` (kept with the constant)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of only the rows where ``where`` holds, on PostgreSQL and SQLite alike."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use kameng.core.models.utcnow()")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    registry = registry(metadata=MetaData(naming_convention=NAMING),
                        type_annotation_map={datetime: UTCDateTime()})


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TenantScoped:
    """Rows owned by one tenant.

    Queries touching these models are filtered to the current tenant scope
    (see ``kameng.core.scoping``); crossing tenants must be asked for.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=True,
                             nullable=False)
