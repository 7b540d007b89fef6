"""A customer's promoter link: shown on the wallet page, remembered on visit, bound at sign-up."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kameng.billing.commissions.models import Referral
from kameng.billing.commissions.settings import update_settings
from kameng.core.extensions import db
from kameng.tenants.models import User
from tests.fakes.smtp import confirmation_link, smtp  # noqa: F401  (fixture)
from tests.helpers import login

pytestmark = pytest.mark.both


def test_signup_through_a_promoter_link_binds_the_referral(app, tree, client_for, smtp):
    update_settings(tree.star, promoter_bp=1000)  # 10 % of the shop's margin
    promoter = client_for("star.localhost")
    login(promoter, "buyer@star.test")
    page = promoter.get("/account/wallet").text
    link = re.search(r'<code class="code">(http://star\.localhost/\?ref=([A-Z0-9a-z]+))</code>',
                     page)
    assert link, "the wallet page shows the promoter link"
    code = link.group(2)

    visitor = client_for("star.localhost")
    assert visitor.get(f"/?ref={code}").status_code == 200
    resp = visitor.post("/register", data={"email": "friend@example.com",
                                           "password": "friend-pass-1",
                                           "confirm": "friend-pass-1"})
    assert resp.status_code == 200
    [(_rcpt, message)] = smtp.messages
    link = confirmation_link(message).removeprefix("http://star.localhost")
    assert visitor.get(link).status_code == 302     # the sign-up is confirmed in this browser
    friend = db.session.scalar(select(User).where(User.email == "friend@example.com"))
    referral = db.session.scalar(select(Referral).where(Referral.user_id == friend.id))
    assert referral is not None and referral.promoter_id == tree.star_customer.id


def test_no_link_when_the_shop_pays_no_promoters_and_bad_codes_bind_nothing(
        app, tree, client_for):
    client = client_for("star.localhost")
    login(client, "buyer@star.test")
    assert "?ref=" not in client.get("/account/wallet").text
    visitor = client_for("rocket.localhost")
    visitor.get("/?ref=NOSUCHCODE")
    visitor.post("/register", data={"email": "x@example.com", "password": "x-pass-123",
                                     "confirm": "x-pass-123"})
    assert db.session.scalar(select(Referral)) is None
