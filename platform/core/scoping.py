"""Tenant scoping of ORM queries.

Every ORM statement that touches a ``TenantScoped`` model is filtered to the
current tenant. The web app sets the scope once per request, from the host;
jobs and commands set it explicitly with ``tenant_scope(id)``, or declare that
they cross tenants with ``all_tenants()`` or the ``all_tenants`` execution
option. A query of tenant-owned rows with no scope at all is refused rather
than silently returning every tenant's rows.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.orm import Session, with_loader_criteria

from kameng.core.database import listen_once
from kameng.core.models import TenantScoped

ALL = "*"
_scope: ContextVar[int | str | None] = ContextVar("kameng_tenant_scope", default=None)


class TenantScopeError(RuntimeError):
    pass


def current_scope() -> int | str | None:
    return _scope.get()


def set_scope(value: int | str | None):
    return _scope.set(value)


def reset_scope(token) -> None:
    _scope.reset(token)


@contextmanager
def tenant_scope(tenant_id: int):
    token = _scope.set(int(tenant_id))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def all_tenants():
    token = _scope.set(ALL)
    try:
        yield
    finally:
        _scope.reset(token)


def _touches_scoped(state) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


def _apply_tenant_criteria(state):
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already scoped
    if state.execution_options.get("all_tenants"):
        return
    scope = _scope.get()
    if scope == ALL:
        return
    if not _touches_scoped(state):
        return
    if scope is None:
        raise TenantScopeError("query of tenant-owned rows outside any tenant scope")
    tid = scope
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tid,
                             include_aliases=True)
    )


def install() -> None:
    listen_once(Session, "do_orm_execute", _apply_tenant_criteria)
