"""Back office (master): the whole tree with each shop's sales and balances — its funded
account, what it owes (orders awaiting funds, negative earnings) and what it collected
on its own gateway; the platform's own accounts.

Paginated (``?after=<path>``, 50 shops a page in tree order): a page's sums are read
for its shops only, and the platform's figures are its accounts' cached balances, so
the page costs the same with ten shops or a hundred thousand."""
from __future__ import annotations

from flask import abort, g, render_template

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.billing import reports
from kameng.core.pagination import requested_after
from kameng.sales import funding

bp = Routes()


@bp.route("/reports/tree")
@owner_required
def reports_tree():
    if not g.tenant.is_master:
        abort(403)
    after = requested_after()
    rows, next_after = reports.tree_page(after)
    ids = [r.tenant_id for r in rows]
    return render_template("admin/reports_tree.html", rows=rows, after=after,
                           next_after=next_after,
                           platform=reports.platform_accounts(g.tenant.currency),
                           waiting=funding.waiting_totals(ids),
                           collected=funding.collected_totals(ids))
