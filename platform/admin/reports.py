"""Back office (master): the whole tree with each shop's sales and balances — its funded
account, what it owes (orders awaiting funds, negative earnings) and what it collected
on its own gateway; the platform margin."""
from __future__ import annotations

from flask import abort, g, render_template

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.billing import reports
from kameng.sales import funding

bp = Routes()


@bp.route("/reports/tree")
@owner_required
def reports_tree():
    if not g.tenant.is_master:
        abort(403)
    rows = reports.tree()
    ids = [r.tenant_id for r in rows]
    return render_template("admin/reports_tree.html", rows=rows,
                           margin=reports.platform_margin(g.tenant.currency),
                           waiting=funding.waiting_totals(ids),
                           collected=funding.collected_totals(ids))
