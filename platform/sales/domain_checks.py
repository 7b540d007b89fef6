"""The daily re-check of verified custom domains, and the owner's e-mail when one fails.

The rule (README, "Custom domains"): each verified custom domain's TXT record is looked
up about once a day (the scheduler runs ``recheck_domains`` hourly; a run takes the
domains not checked for ``RECHECK_AFTER``, at most ``BATCH`` of them, and stops after
``BUDGET_SECONDS``, each look-up bounded by ``KAMENG_DNS_TIMEOUT``). A look-up that gets
no answer (a timeout, a failing resolver) is ignored. A definite miss — no record, or
another value — counts a failure and, the first time in a row, tells the owner: a
banner in the back office and an e-mail through the outbox (written in the transaction
that records the miss). The domain keeps serving: a shop never goes offline on DNS
checks; its owner fixes the record (the next check, or "Verify", clears the notice)
or removes the domain.

The look-ups run with no transaction open: the due rows are read and the read ended,
then each answer is recorded in a transaction of its own.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select

from kameng.core.extensions import db
from kameng.core.mail import send_to_each
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.core.txn import in_own_txn
from kameng.sales import outbox
from kameng.tenants import domains
from kameng.tenants.models import Domain, Tenant, User

log = logging.getLogger(__name__)

RECHECK_AFTER = timedelta(hours=23)
BATCH = 200
BUDGET_SECONDS = 120


def recheck_domains(now=None, limit: int = BATCH, budget: float = BUDGET_SECONDS) -> dict:
    now = now or utcnow()
    due = domains.due_for_recheck(now - RECHECK_AFTER, limit)  # the read is ended
    counts = {"checked": 0, "ok": 0, "missed": 0, "unanswered": 0, "notified": 0}
    started = time.monotonic()
    for domain_id, name, token in due:
        if time.monotonic() - started > budget:
            break  # the rest are due at the next run
        result = domains.lookup_txt(name, token)
        notified = in_own_txn(_record_in_txn, domain_id, result, now)
        counts["checked"] += 1
        counts["ok" if result.outcome == domains.MATCH else
               "unanswered" if result.outcome == domains.ERROR else "missed"] += 1
        counts["notified"] += int(notified)
        if result.outcome == domains.ERROR:
            log.info("re-check of %s got no answer (%s): ignored", name, result.reason)
    return counts


def _record_in_txn(domain_id: int, result, now) -> bool:
    domain, notify = domains.record_check_in_txn(domain_id, result, notify_owner=True, now=now)
    if notify:
        outbox.add("domain.check_failed", domain.tenant_id, domain.id)
    return notify


OWNER_SUBJECT = ("【{shop}】域名 {host} 的 DNS 验证记录有问题 / {shop}: the DNS record of "
                 "{host} is missing or wrong")
OWNER_TEXT = """你的店铺绑定的域名 {host} 的 TXT 记录 {txt_name} 不见了或值不对。
应为："{token}"；实际：{found}。
域名仍在正常访问，请在 DNS 服务商处恢复这条记录，然后在后台 → 域名 点击“验证”。

The TXT record {txt_name} of your shop's domain {host} is gone or wrong.
Expected: "{token}"; found: {found_en}.
The domain keeps serving your shop. Restore the record at your DNS provider, then press
"Verify" in the back office (Domains).
"""


def tell_owners(domain_id: int) -> str:
    """The e-mail to the shop's owners about a failing domain (a job of the outbox)."""
    with all_tenants():
        domain = db.session.get(Domain, domain_id)
        if domain is None or domain.check_failures == 0 or domain.verified_at is None:
            db.session.rollback()
            return "skipped"  # fixed or removed since
        tenant = db.session.get(Tenant, domain.tenant_id)
        owners = list(db.session.scalars(select(User.email).where(
            User.tenant_id == tenant.id, User.role == "owner")))
        values = {"shop": tenant.name, "host": domain.hostname,
                  "txt_name": domains.TXT_PREFIX + domain.hostname, "token": domain.token,
                  "found": domain.check_found or "没有记录",
                  "found_en": domain.check_found or "no TXT record"}
    db.session.commit()  # ends the read: no transaction is open during the SMTP call
    return send_to_each(owners, OWNER_SUBJECT.format(**values), OWNER_TEXT.format(**values))
