"""Job entry points: thin functions that take ids and call services."""
from __future__ import annotations

from kameng.core.extensions import redis_conn
from kameng.core.models import utcnow


def heartbeat() -> str:
    """Proves the worker and scheduler are alive (shown in the back office)."""
    stamp = utcnow().isoformat()
    redis_conn.get().set("kameng:heartbeat", stamp, ex=600)
    return stamp


def import_stock_batch(tenant_id: int, batch_id: int) -> dict:
    """Import an uploaded code file into its stock batch (the "imports" queue)."""
    from kameng.core.scoping import tenant_scope
    from kameng.shop.stock.jobs import run_import

    with tenant_scope(tenant_id):
        return run_import(tenant_id, batch_id)


def sync_supplier_catalog(supplier_id: int, update_costs: bool = False) -> dict:
    """Fetch a supplier's catalog into ``supplier_products`` (suppliers are not tenant-owned)."""
    from kameng.shop.suppliers import services

    report = services.sync_catalog(supplier_id, update_costs=update_costs)
    return {"total": report.total, "added": len(report.added), "gone": len(report.gone),
            "costs_updated": len(report.costs_updated)}


def check_supplier_balances() -> dict:
    """Record every enabled upstream supplier's balance; one failing does not stop the rest."""
    import logging

    from kameng.core.errors import ServiceError
    from kameng.shop.suppliers import services

    answers = {}
    for supplier in services.list_suppliers():
        if not supplier.enabled or supplier.adapter == "local":
            continue
        try:
            answers[supplier.name] = services.check_balance(supplier.id)
        except ServiceError as err:
            logging.getLogger(__name__).warning("supplier %s balance: %s", supplier.name,
                                                err.message)
            answers[supplier.name] = None
    return answers
