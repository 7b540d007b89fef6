"""Every back-office form is submitted once, in a real Chromium (issue 11).

As the master owner and as a depth-1 owner on the demo, every back-office page the crawl
reaches (as the accessibility test finds them) is visited, and each ``<form method="post">``
on it is submitted once with its main submit button: empty required fields get plausible
values, selects and checkboxes stay as they are, a ``data-confirm`` dialog is accepted.
No answer may be a 5xx, no page may throw or log a console error (CSP violations
included), and each submit must land on a page that says something: a flash or a form
error, never a blank page."""
from __future__ import annotations

import re

import pytest

from kameng.core.extensions import db
from tests.browser.test_accessibility import PASSWORD, pages_of
from tests.test_crawl import build_world

pytestmark = pytest.mark.browser

# forms not submitted: they end the session, lock the owner out (a 2FA policy the owner
# has not enrolled in), switch the language, answer a file instead of a page, or close the
# shop whose pages the walk visits next (suspending a sub-shop: tests/tenants/test_subshops)
SKIP = re.compile(r"(/logout|/lang/|/security/policy|/export|/subshops/\d+/suspend)")
# what a page says after a submit: a flash, or an error next to a field
SAID = ".flash, .error, [role=alert], pre.api-key"  # a new API key is shown once, no flash

FILL = """(form) => {
  const values = {text: 'test', search: 'test', number: '1', email: 'forms@example.com',
                  url: 'https://example.com', tel: '13800000000', password: 'Kameng-forms-1',
                  date: '2026-12-01', 'datetime-local': '2026-12-01T10:00', time: '10:00',
                  month: '2026-12', color: '#336699'};
  for (const el of form.querySelectorAll('input[required], textarea[required], select[required]')) {
    if (el.disabled || el.type === 'hidden' || el.type === 'file') continue;
    if (el.tagName === 'SELECT') {
      if (!el.value) { const o = [...el.options].find(o => o.value); if (o) el.value = o.value; }
      continue;
    }
    if (el.type === 'checkbox' || el.type === 'radio') {
      if (el.type === 'radio' && !form.querySelector(`input[name="${el.name}"]:checked`))
        el.checked = true;
      continue;
    }
    if (el.value) continue;
    let v = el.tagName === 'TEXTAREA' ? 'test' : (values[el.type] ?? 'test');
    if (el.type === 'number' && el.min && Number(el.min) > 1) v = el.min;
    if (el.maxLength > 0 && v.length > el.maxLength) v = v.slice(0, el.maxLength);
    el.value = v;
  }
}"""


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state()


def post_forms(page):
    return page.locator("main form[method=post i]")


def submit_every_form(page, base, path, problems, log) -> int:
    """Submit each POST form of ``path`` once (the page reloaded before each); returns how
    many were submitted."""
    submitted = 0
    index = 0
    initial = None
    kinds: set[str] = set()  # a form per row (same action but the id) is one form
    while True:
        response = page.goto(base + path)
        page.wait_for_load_state("load")
        problems.extend(f"{path}: {entry}" for entry in log)
        log.clear()
        if response is None or response.status >= 400:
            return submitted  # gone after an earlier submit (a deleted item): nothing to do
        forms = post_forms(page)
        if initial is None:
            initial = forms.count()  # a submit may add rows (and forms): not those
        if index >= min(initial, forms.count()):
            return submitted
        form = forms.nth(index)
        index += 1
        action = form.get_attribute("action") or path
        kind = re.sub(r"\d+", "N", action)
        if SKIP.search(action) or kind in kinds:
            continue
        kinds.add(kind)
        # the form's main button: a primary one when there is one (the product editor's
        # first button adds a buyer-field row in place, without leaving the page)
        button = form.locator("button.btn-primary[type=submit], button.btn-primary:not([type])")
        if button.count() == 0:
            button = form.locator("button[type=submit], button:not([type]), input[type=submit]")
        if button.count() == 0 or not button.first.is_visible():
            continue  # a form only a script submits, or one hidden behind a toggle
        form.evaluate(FILL)
        where = f"{path} → form {index} ({action})"
        try:
            with page.expect_navigation(timeout=5_000):
                button.first.click()
        except Exception as exc:  # noqa: BLE001 - reported with the form it came from
            problems.append(f"{where}: did not submit ({str(exc).splitlines()[0]})")
            continue
        page.wait_for_load_state("load")
        submitted += 1
        problems.extend(f"{where}: {entry}" for entry in log)
        log.clear()
        if "/login" in page.url:
            problems.append(f"{where}: signed out ({page.url})")
            return submitted
        said = [t.strip() for t in page.locator(SAID).all_inner_texts() if t.strip()]
        if not said:
            problems.append(f"{where}: landed on {page.url} with neither a flash nor an error")
    return submitted


@pytest.mark.timeout(900)
def test_every_back_office_form_submits_once(app, live_server, browser):
    app.config["RATELIMIT_ENABLED"] = False
    build_world(app)
    db.session.commit()
    problems: list[str] = []
    counts = {}
    for host, email in (("master.localhost", "owner@master.localhost"),
                        ("star.localhost", "owner@star.localhost")):
        paths = [p for p in pages_of(app, host, email, ["/admin/"]) if p.startswith("/admin")]
        assert len(paths) > 15, paths
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        log: list[str] = []
        # a 4xx page (422 for a form error) is an answer; a missing resource is not
        page.on("response", lambda r, log=log: log.append(f"{r.status} from {r.url}")
                if r.status >= 500 or (r.status >= 400 and r.request.resource_type
                                       != "document") else None)
        page.on("pageerror", lambda e, log=log: log.append(f"page error: {e}"))
        page.on("console", lambda m, log=log: log.append(f"console {m.type}: {m.text}")
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None)
        page.on("dialog", lambda d: d.accept())
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', function (e) {"
            " console.error('Content Security Policy violation: ' + e.violatedDirective"
            " + ' ' + e.blockedURI); });")
        try:
            base = live_server(host)
            sign_in(page, base, email)
            counts[host] = sum(submit_every_form(page, base, path, problems, log)
                               for path in paths)
        finally:
            context.close()
    assert not problems, "\n".join(problems)
    # the walk really submitted forms (a broken discovery would pass vacuously)
    assert all(n > 10 for n in counts.values()), counts
