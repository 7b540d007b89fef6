"""Password reset by e-mail for buyers and staff/owners: a signed, single-use, 30-minute
link; the same answer whether or not the address exists; rate-limited; the reset ends the
account's other sessions."""
from __future__ import annotations

import re
import time
import types

import itsdangerous.timed
import pytest

from tests.fakes.smtp import smtp  # noqa: F401  (fixture)
from tests.helpers import login

NEW = "a-new-password-9"


def _page(resp) -> str:
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1", resp.text)


def reset_link(message) -> str:
    return re.search(r"http://\S+/password/reset/\S+", message.get_content()).group(0)


def _ask(client, email):
    return client.post("/password/forgot", data={"email": email})


@pytest.mark.parametrize("who", ["customer", "owner", "staff"])
def test_a_reset_link_sets_a_new_password_once_and_ends_other_sessions(app, tree, client_for,
                                                                       smtp, who):
    from kameng.tenants.services import create_user
    from tests.helpers import PASSWORD

    if who == "staff":
        create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    email = {"customer": "buyer@star.test"}.get(who, f"{who}@star.test")
    signed_in = client_for("star.localhost")
    assert login(signed_in, email).status_code == 302
    page = "/account/wallet" if who == "customer" else "/admin/"
    assert signed_in.get(page).status_code == 200

    asking = client_for("star.localhost")
    known = _ask(asking, email)
    unknown = _ask(client_for("star.localhost"), "nobody@star.test")
    assert known.status_code == unknown.status_code == 200
    assert _page(known) == _page(unknown)          # the same answer either way
    [(rcpt, message)] = smtp.messages                # a mail only to the real account
    assert rcpt == [email]
    link = reset_link(message)
    assert link.startswith("http://star.localhost/password/reset/")
    path = link.removeprefix("http://star.localhost")
    assert client_for("rocket.localhost").get(path).status_code == 400  # another shop's

    form = asking.get(path)
    assert form.status_code == 200 and "password-reset-form" in form.text
    mismatch = asking.post(path, data={"password": NEW, "confirm": NEW + "x"})
    assert mismatch.status_code == 200 and "password-reset-form" in mismatch.text
    done = asking.post(path, data={"password": NEW, "confirm": NEW})
    assert done.status_code == 200 and "password-reset-done" in done.text

    assert signed_in.get(page).status_code in (302, 401, 403)   # the other session ended
    assert login(client_for("star.localhost"), email).status_code == 200      # old: refused
    assert login(client_for("star.localhost"), email, NEW).status_code == 302
    assert asking.get(path).status_code == 400                                 # used once
    assert asking.post(path, data={"password": "another-1234",
                                   "confirm": "another-1234"}).status_code == 400


def test_a_link_older_than_30_minutes_is_refused(app, tree, client_for, smtp, monkeypatch):
    then = time.time() - 31 * 60
    monkeypatch.setattr(itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: then))
    _ask(client_for("star.localhost"), "buyer@star.test")
    monkeypatch.undo()
    [(_rcpt, message)] = smtp.messages
    path = reset_link(message).removeprefix("http://star.localhost")
    refused = client_for("star.localhost").get(path)
    assert refused.status_code == 400
    assert "not valid" in refused.text.lower() or "无效" in refused.text


def test_a_forged_link_is_refused(app, tree, client_for):
    assert client_for("star.localhost").get("/password/reset/forged").status_code == 400


@pytest.mark.app_config(LOGIN_RATE_LIMIT="2 per minute")
def test_asking_for_links_is_rate_limited(app, tree, client_for, smtp):
    client = client_for("star.localhost")
    assert _ask(client, "buyer@star.test").status_code == 200
    assert _ask(client, "nobody@star.test").status_code == 200
    assert _ask(client, "buyer@star.test").status_code == 429
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("locale,words", [("en", ("Forgot your password?", "Send the link")),
                                          ("zh_CN", ("忘记密码？", "发送链接"))])
def test_the_pages_in_both_languages(app, tree, client_for, smtp, locale, words):
    client = client_for("star.localhost")
    client.get(f"/lang/{locale}")
    assert words[0] in client.get("/login").text
    assert words[1] in client.get("/password/forgot").text
    _ask(client, "buyer@star.test")
    path = reset_link(smtp.messages[0][1]).removeprefix("http://star.localhost")
    assert client.get(path).status_code == 200
