"""Back office (master): the whole tree with each shop's sales and balances; platform margin."""
from __future__ import annotations

from flask import abort, g, render_template

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.billing import reports

bp = Routes()


@bp.route("/reports/tree")
@owner_required
def reports_tree():
    if not g.tenant.is_master:
        abort(403)
    return render_template("admin/reports_tree.html", rows=reports.tree(),
                           margin=reports.platform_margin(g.tenant.currency))
