"""Two-factor sign-in (TOTP) for owners and staff: enrolment, the second step of signing
in, replays, recovery codes, switching off, the master's policy, the operator's reset."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from kameng.core import crypto
from kameng.core.audit import AuditEvent
from kameng.core.extensions import db
from kameng.tenants import twofactor
from kameng.tenants.models import RecoveryCode, User
from kameng.tenants.services import create_user
from tests import helpers
from tests.helpers import PASSWORD

pytestmark = pytest.mark.both

RECOVERY = re.compile(r"\b[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}\b")


def login(client, email: str, password: str = PASSWORD):
    """Sign in with the pages in English (the shops' default is Chinese)."""
    client.get("/lang/en")
    return helpers.login(client, email, password)


def code_at(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time() // totp.interval) + offset)


# the code each enrolment was confirmed with, by secret: a replay must send that very
# code (recomputing "the previous step" later may cross into the next 30 s step)
ENROLLED_WITH: dict[str, str] = {}


def enrol(client) -> tuple[str, list[str]]:
    """Switch 2FA on for the signed-in user through the back office: (secret, recovery)."""
    start = client.post("/admin/security/2fa/start")
    assert start.status_code == 302 and start.headers["Location"].endswith("/2fa/enrol")
    page = client.get("/admin/security/2fa/enrol")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'src="data:image/svg+xml' in body
    secret = re.search(r'class="totp-secret"[^>]*>([A-Z2-7]+)<', body).group(1)
    assert "otpauth://totp/" in body
    # the previous step's code: still valid, and the one just after it stays usable
    ENROLLED_WITH[secret] = code_at(secret, -1)
    done = client.post("/admin/security/2fa/enrol", data={"code": ENROLLED_WITH[secret]})
    assert done.status_code == 200
    codes = RECOVERY.findall(done.get_data(as_text=True))
    assert len(codes) == twofactor.RECOVERY_CODES
    return secret, codes


def user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.email == email))


def test_enrolment_confirms_with_a_first_code_and_stores_the_secret_sealed(
        app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    assert star.get("/admin/security/2fa/enrol").status_code == 302   # nothing started
    star.post("/admin/security/2fa/start")
    body = star.get("/admin/security/2fa/enrol").get_data(as_text=True)
    secret = re.search(r'class="totp-secret"[^>]*>([A-Z2-7]+)<', body).group(1)
    owner = user("owner@star.test")
    assert owner.totp_secret and secret not in owner.totp_secret       # sealed, never plain
    assert crypto.unseal(owner.totp_secret, f"totp:{owner.id}".encode()) == secret
    wrong = star.post("/admin/security/2fa/enrol", data={"code": "000000"})
    assert wrong.status_code == 422 and "not valid" in wrong.get_data(as_text=True)
    assert not twofactor.enabled(user("owner@star.test"))
    ok = star.post("/admin/security/2fa/enrol", data={"code": code_at(secret)})
    assert ok.status_code == 200
    owner = user("owner@star.test")
    assert twofactor.enabled(owner)
    stored = db.session.scalars(db.select(RecoveryCode.code_hash)
                                .where(RecoveryCode.user_id == owner.id)).all()
    shown = RECOVERY.findall(ok.get_data(as_text=True))
    assert len(stored) == 10 and not set(shown) & set(stored)          # hashed
    page = star.get("/admin/security").get_data(as_text=True)
    assert "Unused recovery codes: 10" in page and not RECOVERY.search(page)  # shown once


def test_sign_in_asks_for_a_code_and_refuses_wrong_and_replayed_ones(app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    earlier = client_for("star.localhost")
    login(earlier, "owner@star.test")
    assert earlier.get("/admin/").status_code == 200
    secret, _ = enrol(star)
    # switching 2FA on ends every other session (signed in without a code)
    assert earlier.get("/admin/").status_code == 302
    assert star.get("/admin/").status_code == 200
    star.post("/logout")

    fresh = client_for("star.localhost")
    first = login(fresh, "owner@star.test")
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/2fa")
    assert fresh.get("/admin/").status_code == 302                 # not signed in yet
    step = fresh.get("/login/2fa")
    assert step.status_code == 200 and 'name="code"' in step.get_data(as_text=True)
    wrong = fresh.post("/login/2fa", data={"code": "123456"})
    assert wrong.status_code == 200 and "Wrong or already used code" in wrong.get_data(
        as_text=True)
    # the code used to enrol was spent: the same time step is refused
    replay = fresh.post("/login/2fa", data={"code": ENROLLED_WITH[secret]})
    assert replay.status_code == 200
    assert fresh.get("/admin/").status_code == 302
    signed_in_with = code_at(secret)
    ok = fresh.post("/login/2fa", data={"code": signed_in_with})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/admin/")
    assert fresh.get("/admin/").status_code == 200

    # the same code on another sign-in, within its window: refused
    other = client_for("star.localhost")
    login(other, "owner@star.test")
    assert other.post("/login/2fa", data={"code": signed_in_with}).status_code == 200
    assert other.get("/admin/").status_code == 302


def test_without_2fa_the_password_signs_in(app, tree, client_for):
    star = client_for("star.localhost")
    resp = login(star, "owner@star.test")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/")
    assert client_for("star.localhost").get("/login/2fa").status_code == 302   # no step


def test_a_recovery_code_works_once(app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    _, codes = enrol(star)
    star.post("/logout")
    one = client_for("star.localhost")
    login(one, "owner@star.test")
    assert one.post("/login/2fa", data={"code": codes[0].upper()}).status_code == 302
    assert one.get("/admin/").status_code == 200
    two = client_for("star.localhost")
    login(two, "owner@star.test")
    assert two.post("/login/2fa", data={"code": codes[0]}).status_code == 200
    assert two.get("/admin/").status_code == 302
    assert two.post("/login/2fa", data={"code": codes[1]}).status_code == 302
    assert "Unused recovery codes: 8" in two.get("/admin/security").get_data(as_text=True)


@pytest.mark.app_config(LOGIN_RATE_LIMIT="4 per minute")
def test_failed_codes_count_towards_the_login_limit(app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")                                        # 1
    secret, _ = enrol(star)
    fresh = client_for("star.localhost")
    assert login(fresh, "owner@star.test").status_code == 302           # 2
    assert fresh.post("/login/2fa", data={"code": "111111"}).status_code == 200   # 3
    assert fresh.post("/login/2fa", data={"code": "222222"}).status_code == 200   # 4
    assert fresh.post("/login/2fa", data={"code": code_at(secret)}).status_code == 429
    assert login(client_for("star.localhost"), "owner@star.test").status_code == 429


def test_switching_off_needs_a_code_or_the_password(app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    enrol(star)
    bad = star.post("/admin/security/2fa/disable", data={"code": "not-the-password"})
    assert bad.status_code in (400, 422) and "wrong code or password" in bad.get_data(
        as_text=True)
    assert twofactor.enabled(user("owner@star.test"))
    assert star.post("/admin/security/2fa/disable", data={"code": PASSWORD}).status_code == 302
    owner = user("owner@star.test")
    assert not twofactor.enabled(owner) and owner.totp_secret is None
    assert db.session.scalar(db.select(db.func.count(RecoveryCode.id))) == 0
    assert login(client_for("star.localhost"), "owner@star.test").headers[
        "Location"].endswith("/admin/")


def test_the_masters_policy_sends_users_to_enrol_first(app, tree, client_for):
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    # only the master owner sets it
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    assert star.post("/admin/security/policy", data={"depth": "3"}).status_code == 403
    assert master.post("/admin/security/policy", data={"depth": "77"}).status_code == 422
    assert master.post("/admin/security/policy", data={"depth": "0"}).status_code == 302
    assert twofactor.require_depth(tree.star) == 0
    change = db.session.scalar(db.select(AuditEvent).where(
        AuditEvent.action == "security.require_2fa_depth"))
    assert change.detail == {"depth": 0} and change.user_id == tree.master_owner.id

    # depth 0: the master's owner and staff; a star owner (depth 1) is not concerned
    assert star.get("/admin/orders").status_code == 200
    staff = client_for("master.localhost")
    login(staff, "staff@master.test")
    sent = staff.get("/admin/orders")
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/admin/security")
    assert staff.post("/admin/catalog/categories", data={"name": "x"}).status_code == 302
    page = staff.get("/admin/security").get_data(as_text=True)
    assert "requires two-factor sign-in" in page
    enrol(staff)
    assert staff.get("/admin/orders").status_code == 200

    # depth 1 reaches the star owner at its next request
    master_owner_sent = master.get("/admin/orders")
    assert master_owner_sent.status_code == 302       # the master owner too, until enrolled
    enrol(master)
    assert "depth=0" in master.get("/admin/audit").get_data(as_text=True)
    assert master.post("/admin/security/policy", data={"depth": "1"}).status_code == 302
    assert star.get("/admin/orders").headers["Location"].endswith("/admin/security")
    assert client_for("rocket.localhost").get("/admin/orders").status_code == 302   # login
    rocket = client_for("rocket.localhost")
    login(rocket, "owner@rocket.test")
    assert rocket.get("/admin/orders").status_code == 200                # depth 2: not
    assert master.post("/admin/security/policy", data={"depth": ""}).status_code == 302
    assert star.get("/admin/orders").status_code == 200


def test_operator_resets_a_locked_out_users_2fa(app, tree, client_for, cli):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    enrol(star)
    result = cli("users", "reset-2fa", "--tenant", "star", "--email", "owner@star.test")
    assert result.exit_code == 0, result.output
    assert "is off" in result.output
    reset = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.reset_2fa"))
    assert reset.actor == "cli" and reset.tenant_id == tree.star.id
    assert not twofactor.enabled(user("owner@star.test"))
    assert login(client_for("star.localhost"), "owner@star.test").headers[
        "Location"].endswith("/admin/")
    missing = cli("users", "reset-2fa", "--tenant", "star", "--email", "nobody@star.test")
    assert missing.exit_code != 0


@pytest.mark.parametrize("who", ["owner@master.test", "owner@star.test", "staff@star.test"])
def test_security_pages_in_both_languages(app, tree, client_for, who):
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    host = "master.localhost" if "master" in who else "star.localhost"
    client = client_for(host)
    login(client, who)
    client.get("/lang/en")
    en = client.get("/admin/security").get_data(as_text=True)
    assert "Two-factor sign-in" in en and "Set up two-factor sign-in" in en
    assert ("Two-factor policy" in en) == (who == "owner@master.test")
    client.post("/admin/security/2fa/start")
    assert "authenticator app" in client.get("/admin/security/2fa/enrol").get_data(as_text=True)
    client.get("/lang/zh_CN")
    zh = client.get("/admin/security").get_data(as_text=True)
    assert "两步验证" in zh and "账户安全" in zh
    assert "身份验证器" in client.get("/admin/security/2fa/enrol").get_data(as_text=True)
    secret = crypto.unseal(user(who).totp_secret, f"totp:{user(who).id}".encode())
    codes = client.post("/admin/security/2fa/enrol", data={"code": code_at(secret)})
    assert "恢复码" in codes.get_data(as_text=True)
    client.post("/logout")

    step = client_for(host)
    helpers.login(step, who)
    step.get("/lang/zh_CN")
    assert "两步验证" in step.get("/login/2fa").get_data(as_text=True)
    step.get("/lang/en")
    assert "Two-factor sign-in" in step.get("/login/2fa").get_data(as_text=True)
