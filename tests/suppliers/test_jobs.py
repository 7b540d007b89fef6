"""The supplier jobs, run by a real RQ worker against the fake supplier."""
from __future__ import annotations

from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.core.jobs import queue
from kameng.shop.suppliers.models import Supplier, UpstreamProduct
from kameng.workers.runner import run_worker
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)


def test_sync_and_balance_jobs_run_in_a_worker(app, fake_supplier):  # noqa: F811
    supplier_id = fake_supplier.create_supplier().id
    broken_id = fake_supplier.create_supplier("Broken", secret="wrong-secret").id
    db.session.commit()
    # (queue().enqueue: kameng.core.jobs.enqueue cannot pass positional args to RQ yet)
    queue("default").enqueue("kameng.workers.jobs.sync_supplier_catalog", supplier_id)
    job = queue("default").enqueue("kameng.workers.jobs.check_supplier_balances")
    run_worker(app, ("default",), burst=True)
    assert job.return_value() == {"Fake Topup": fake_supplier.balance, "Broken": None}
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(UpstreamProduct)) == 4
    assert db.session.get(Supplier, supplier_id).last_balance == fake_supplier.balance
    assert db.session.get(Supplier, broken_id).last_balance is None
