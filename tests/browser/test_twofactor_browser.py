"""The second step of signing in, in a real Chromium: the password leads to the code
page, a wrong code stays there, a right one opens the back office; the enrolment page
(with its QR code as a data: image) runs under the CSP without a violation."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from kameng.core import crypto
from kameng.core.extensions import db
from kameng.tenants import twofactor
from tests.browser.conftest import SHOTS
from tests.browser.test_csp import sign_in, watch

pytestmark = pytest.mark.browser


def _code(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time() // totp.interval) + offset)


def test_sign_in_with_a_second_step(app, tree, live_server, desktop):
    owner = tree.star_owner
    twofactor.start_enrolment(owner)
    secret = crypto.unseal(owner.totp_secret, f"totp:{owner.id}".encode())
    twofactor.confirm_enrolment(owner, _code(secret, -1))
    db.session.commit()
    star = live_server("star.localhost")
    page = desktop
    violations = watch(page)
    page.goto(star + "/lang/en")
    sign_in(page, star, owner.email)
    assert page.url.endswith("/login/2fa")
    assert page.locator("input[name=code]").is_visible()
    page.fill("input[name=code]", "000000")
    page.click("form.form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/login/2fa")
    assert "Wrong or already used code" in page.content()
    page.screenshot(path=f"{SHOTS}/kameng-2fa-step.png")
    page.fill("input[name=code]", _code(secret))
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.locator("h1").first.is_visible()
    # a colleague enrols: the QR code shows (an SVG data: image) under the CSP
    page.goto(star + "/admin/security")
    page.context.clear_cookies()
    from kameng.tenants.services import create_user

    create_user(tree.star, "staff@star.test", "staff", "correct-horse")
    db.session.commit()
    page.goto(star + "/lang/en")
    sign_in(page, star, "staff@star.test")
    page.goto(star + "/admin/security")
    page.click("form[action$='/2fa/start'] button")
    page.wait_for_url(re.compile(r"/2fa/enrol$"))
    width = page.locator("img.qr").evaluate("img => img.naturalWidth")
    assert width > 0
    page.screenshot(path=f"{SHOTS}/kameng-2fa-enrol.png", full_page=True)
    assert violations == [], violations
