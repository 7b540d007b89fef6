"""Plan limits enforced at the one place every write passes: the session flush.

Whatever code path opens a sub-shop, binds a custom domain, adds a staff
account, sets a markup (percent, or fixed as a share of cost) or switches the theme — the tenants service,
the pricing service, the CLI, the API — the flush refuses it with
``PlanLimit`` (403) when the shop's plan does not allow it. Nothing has been
written then; the caller rolls back as for any other service error.

A row of another package (a shop's markup rule) declares what it needs with a
``plan_limit()`` method returning ``(feature, value[, detail])`` or None, so billing needs no
import of shop models.
"""
from __future__ import annotations

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from kameng.core.database import listen_once
from kameng.tenants.models import Domain, Tenant, User


def _tenant(session, obj) -> Tenant | None:
    tenant = getattr(obj, "tenant", None) if not isinstance(obj, Tenant) else obj
    if isinstance(tenant, Tenant):
        return tenant
    tid = getattr(obj, "tenant_id", None)
    return session.get(Tenant, tid) if tid else None


def _staff_count(session, tenant_id: int) -> int:
    return session.scalar(select(func.count(User.id)).where(
        User.tenant_id == tenant_id, User.role == "staff")
        .execution_options(all_tenants=True)) or 0


def _check_plan_limits(session, _flush_context, _instances):
    from kameng.billing.plans.services import is_limited, require

    new, dirty = list(session.new), list(session.dirty)
    if not any(isinstance(o, (Tenant, Domain, User)) or hasattr(o, "plan_limit")
               for o in new + dirty):
        return
    with session.no_autoflush:
        new_staff: dict[int, int] = {}
        for obj in new:
            if isinstance(obj, Tenant):
                parent = obj.parent or (session.get(Tenant, obj.parent_id)
                                        if obj.parent_id else None)
                if parent is not None:
                    require(parent, "sub_shops")
            elif isinstance(obj, Domain) and obj.kind == "custom":
                tenant = _tenant(session, obj)
                if tenant is not None and tenant.id is not None:
                    require(tenant, "custom_domain")
            elif isinstance(obj, User) and obj.role == "staff" and obj.tenant_id:
                new_staff[obj.tenant_id] = new_staff.get(obj.tenant_id, 0) + 1
        for obj in dirty:
            if isinstance(obj, User) and obj.role == "staff" and obj.tenant_id:
                history = inspect(obj).attrs.role.history
                if history.deleted and "staff" not in history.deleted:
                    new_staff[obj.tenant_id] = new_staff.get(obj.tenant_id, 0) + 1
            elif isinstance(obj, Tenant) and obj.id is not None:
                history = inspect(obj).attrs.theme.history
                if history.added and history.deleted:
                    require(obj, "theme", obj.theme)
        for tenant_id, added in new_staff.items():
            tenant = session.get(Tenant, tenant_id)
            require(tenant, "staff", _staff_count(session, tenant_id) + added)
        for obj in new + dirty:
            if not hasattr(obj, "plan_limit"):
                continue
            tenant = _tenant(session, obj)
            # asked only of a shop a plan limits: a fixed markup's share costs a look-up
            limit = obj.plan_limit() if tenant is not None and is_limited(tenant) else None
            if limit is not None:
                require(tenant, *limit)


def install() -> None:
    listen_once(Session, "before_flush", _check_plan_limits)
