"""The buyer's side of orders: checkout, paying, the order page, lookup, my orders.

Who may see an order page: the browser session that placed it (its number is
kept in the signed session cookie), the logged-in customer who owns it, or a
session that passed the lookup (number + contact + lookup password). Anyone
else gets the same 404 as for a number that does not exist, and another
shop's order on this host is not found at all (tenant scope).
"""
from __future__ import annotations

import re
import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from kameng.billing.ledger.services import InsufficientBalance
from kameng.billing.payments.base import PaymentError, ProviderUnavailable
from kameng.billing.payments.registry import enabled_providers
from kameng.core.errors import InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db, limiter
from kameng.core.pagination import keyset_page, requested_before
from kameng.core.security import allow_payment_script, no_store
from kameng.sales import coupons, paying, services
from kameng.sales.backpressure import Busy
from kameng.sales.delivery import line_codes
from kameng.sales.forms import CheckoutForm, LookupForm
from kameng.sales.models import Order
from kameng.tenants.i18n import current_locale
from kameng.tenants.themes import render

bp = Blueprint("orders", __name__)
bp.after_request(no_store)  # an order page, a look-up, a pay page: each can show codes

SESSION_KEY = "kameng.orders"
REMEMBER = 30          # order numbers one browser session keeps access to
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
WAITING = ("pending", "paid", "fulfilling", "awaiting_funds")
MY_ORDERS_PAGE = 30
FORM_FIELDS = ("quantity", "contact", "lookup_password", "payment_method", "coupon")


@bp.before_request
def closed_when_suspended():
    # a suspended shop takes no new orders; buyers can still see and look up theirs
    if not g.tenant.serves_buyers and request.endpoint in ("orders.checkout", "orders.pay"):
        return render("closed.html"), 503
    return None


# ----- who may see an order -------------------------------------------------------

def _customer():
    if current_user.is_authenticated and current_user.tenant_id == g.tenant.id:
        return current_user._get_current_object()
    return None


def _remember(order: Order) -> None:
    entry = f"{order.tenant_id}:{order.order_no}"
    known = [e for e in session.get(SESSION_KEY, []) if e != entry]
    session[SESSION_KEY] = (known + [entry])[-REMEMBER:]


def _may_see(order: Order) -> bool:
    customer = _customer()
    if customer is not None and order.customer_id == customer.id:
        return True
    return f"{order.tenant_id}:{order.order_no}" in session.get(SESSION_KEY, [])


def _visible_order(order_no: str) -> Order:
    try:
        order = services.get_order(order_no)
    except NotFound:
        abort(404)
    if order.tenant_id != g.tenant.id or not _may_see(order):
        abort(404)  # the same answer as for a number that does not exist
    return order


# ----- checkout -------------------------------------------------------------------

def _product_page(sku: str):
    from kameng.shop.pricing.services import price_for
    from kameng.shop.storefront.queries import product_page

    page = product_page(g.tenant, (sku or "").strip(), current_locale()) if sku else None
    if page is None:
        abort(404)
    try:
        price = price_for(g.tenant, page.product, customer=_customer(), quantity=1)
    except NotFound:
        abort(404)
    if price is None:
        abort(404)
    return page, price


def _field_values(page) -> dict[str, str]:
    return {f["name"]: (request.form.get(f"field_{f['name']}") or "").strip()
            for f in page.fields}


def _checkout_page(form, page, price, options, *, values=None, errors=None, error=None,
                   status=200):
    from kameng.billing.wallets import wallet_balance

    customer = _customer()
    if not TOKEN_RE.match(form.token.data or ""):
        form.token.data = secrets.token_urlsafe(24)
    quantity = form.quantity.data if isinstance(form.quantity.data, int) else None
    product = page.product
    if quantity is not None and product.min_quantity <= quantity <= product.max_quantity:
        from kameng.shop.pricing.services import price_for

        price = price_for(g.tenant, product, customer=customer, quantity=quantity)
    else:
        quantity = None
    discount = 0
    if quantity is not None and form.coupon.data and not (errors or {}).get("coupon"):
        try:   # what the coupon would take off now (placing the order decides)
            discount = coupons.preview(g.tenant, form.coupon.data, product, quantity,
                                       customer).discount
        except ServiceError:
            discount = 0
    balance = wallet_balance(customer) if customer else None
    return render(
        "checkout.html", form=form, page=page, product=product, price=price,
        quantity=quantity, discount=discount,
        total=price * quantity - discount if quantity else None,
        options=options, values=values or {}, errors=errors or {}, error=error,
        customer=customer, balance=balance,
        members_balance=customer is None and "balance" in enabled_providers(g.tenant),
        chosen=form.payment_method.data or paying.preselect(
            options, balance, price * quantity - discount if quantity else None),
        topup_url=(url_for("billing.topup") if customer is not None
                   and any(o.method == "balance" for o in options) else None),
    ), status


def _checkout_limit() -> str:
    return current_app.config.get("CHECKOUT_RATE_LIMIT") or "10 per minute; 60 per hour"


def _checkout_client() -> str:
    # per shop and client: a signed-in customer is its account, a guest its address
    # (behind a trusted proxy, the address ProxyFix read from X-Forwarded-For)
    customer = _customer()
    who = f"customer:{customer.id}" if customer is not None else f"ip:{request.remote_addr}"
    return f"checkout:{g.tenant.id}:{who}"


def _placed_or_tried(_response) -> bool:
    # only a POST that went on to place an order to be paid later counts (not a form with
    # errors, not the step that chooses how to pay, not an order paid from the balance):
    # each one may reserve stock for a while and a guest's costs a hash
    return bool(g.get("kameng_placing"))


def _paid_from_balance() -> bool:
    # an order paid from the balance reserves nothing unpaid: never refused by the limit
    return request.form.get("payment_method") == "balance"


@bp.errorhandler(429)
def too_many_requests(err):
    if request.endpoint != "orders.checkout":
        return render("error.html", status=429, title="Too many requests"), 429
    form = CheckoutForm()
    try:
        page, price = _product_page(form.sku.data)
    except HTTPException:   # no such product (any more): the limit's own page
        return render("error.html", status=429, title="Too many requests"), 429
    options = paying.pay_options(g.tenant, _customer())
    return _checkout_page(
        form, page, price, options, values=_field_values(page), status=429,
        error=_("Too many orders from you in a short time. Please wait a few minutes, "
                "then try again."))


@bp.route("/checkout", methods=["GET", "POST"])
@limiter.limit(_checkout_limit, methods=["POST"], key_func=_checkout_client,
               deduct_when=_placed_or_tried, exempt_when=_paid_from_balance)
def checkout():
    customer = _customer()
    if request.method == "GET":
        form = CheckoutForm(formdata=None, sku=request.args.get("sku", ""),
                            quantity=request.args.get("quantity", type=int))
    else:
        form = CheckoutForm()
    page, price = _product_page(form.sku.data)
    if request.method == "GET" and form.quantity.data is None:
        form.quantity.data = page.product.min_quantity
    if customer is not None and not form.contact.data and request.method == "GET":
        form.contact.data = customer.email
    options = paying.pay_options(g.tenant, customer)
    if request.method == "GET":
        return _checkout_page(form, page, price, options)

    values = _field_values(page)
    errors: dict[str, str] = {}
    ok = form.validate()
    option = paying.find_option(options, form.payment_method.data)
    if customer is None and form.payment_method.data:
        # the contact and the lookup password are asked once, on the checkout page (the
        # product page's buy form has only the product's own fields)
        ok = form.check_guest() and ok
    for name in FORM_FIELDS:
        if getattr(form, name).errors:
            errors[name] = str(getattr(form, name).errors[0])
    if "quantity" not in errors:
        lo, hi = page.product.min_quantity, page.product.max_quantity
        if not lo <= form.quantity.data <= hi:
            errors["quantity"] = _("Choose between %(lo)s and %(hi)s.", lo=lo, hi=hi)
    from kameng.shop.catalog.services import validate_buyer_fields

    try:
        validate_buyer_fields(page.product, values)
    except InvalidInput as err:
        errors[f"field_{err.field}"] = err.message
    if form.coupon.data and "quantity" not in errors:
        try:
            coupons.preview(g.tenant, form.coupon.data, page.product, form.quantity.data,
                            customer)
        except ServiceError as err:
            errors["coupon"] = err.message
    if form.payment_method.data and option is None:
        errors["payment_method"] = _("Choose one of the payment methods shown.")
    if errors or not ok:
        return _checkout_page(form, page, price, options, values=values, errors=errors,
                              status=422)
    if option is None:
        # came from the product page: everything checks out, now choose how to pay
        return _checkout_page(form, page, price, options, values=values)
    return _place(form, page, price, options, option, values)


def _place(form, page, price, options, option, values):
    # counted by the checkout's rate limit, unless paid from the balance at once
    g.kameng_placing = option.method != "balance"
    customer = _customer()
    token = form.token.data if TOKEN_RE.match(form.token.data or "") else None
    try:
        placed = services.place_order(
            g.tenant, sku=page.product.sku, quantity=form.quantity.data, fields=values,
            customer=customer, contact=form.contact.data,
            lookup_password=form.lookup_password.data if customer is None else None,
            payment_method=option.method, coupon=form.coupon.data or None,
            # a double click must not pay twice (keys are per customer account)
            idempotency_key=f"web:{token}" if customer is not None and token else None,
            locale=current_locale(), client_ip=request.remote_addr)
    except InsufficientBalance:
        # not a dead end: the page offers the top-up and pre-selects another method
        form.payment_method.data = paying.preselect(options, 0, None)
        return _checkout_page(form, page, price, options, values=values, status=402,
                              errors={"payment_method": _("Your balance is not enough.")})
    except InvalidInput as err:
        key = f"field_{err.field}" if err.field in values else err.field
        if key in FORM_FIELDS or key in {f"field_{name}" for name in values}:
            return _checkout_page(form, page, price, options, values=values,
                                  errors={key: err.message}, status=422)
        return _checkout_page(form, page, price, options, values=values, error=err.message,
                              status=422)
    except Busy as err:  # the workers are far behind: nothing was charged, come back
        body, status = _checkout_page(form, page, price, options, values=values,
                                      error=err.message, status=503)
        return body, status, {"Retry-After": str(err.retry_after)}
    except ServiceError as err:  # out of stock, no longer sold …
        return _checkout_page(form, page, price, options, values=values, error=err.message,
                              status=err.status)
    order = placed.order  # place_order has handed its outbox row to the queue
    _remember(order)
    if order.status == "pending":
        return redirect(url_for("orders.pay", order_no=order.order_no, method=option.value))
    return redirect(url_for("orders.order_page", order_no=order.order_no))


# ----- paying ---------------------------------------------------------------------

@bp.route("/o/<order_no>/pay", methods=["GET", "POST"])
def pay(order_no: str):
    order = _visible_order(order_no)
    if order.status != "pending":
        return redirect(url_for("orders.order_page", order_no=order.order_no))
    options = paying.pay_options(g.tenant, _customer(), with_balance=False)
    option = (paying.find_option(options, request.values.get("method"))
              or paying.default_option(order, options))
    if option is None:
        return redirect(url_for("orders.order_page", order_no=order.order_no))
    return_url = url_for("orders.order_page", order_no=order.order_no, _external=True)
    if option.method == "epay":
        return_url = url_for("orders.pay_return", _external=True)
    try:
        start = paying.start_payment(g.tenant, order, option, return_url=return_url,
                                     client_ip=request.remote_addr)
    except (PaymentError, ProviderUnavailable, InvalidInput) as err:
        flash(err.message, "error")
        return redirect(url_for("orders.order_page", order_no=order.order_no))
    if start.kind == "client_secret":
        if start.fields.get("status") == "succeeded":
            return redirect(url_for("orders.order_page", order_no=order.order_no))
        js_url = start.fields.get("js_url") or current_app.config["STRIPE_JS_URL"]
        allow_payment_script(js_url)
        return render("pay_stripe.html", order=order, start=start, return_url=return_url,
                      js_url=js_url, publishable_key=start.fields.get("publishable_key", ""))
    if start.kind in ("form", "redirect"):
        return render("pay_epay.html", order=order, start=start, option=option)
    return redirect(url_for("orders.order_page", order_no=order.order_no))


@bp.route("/pay/return")
def pay_return():
    """Where epay sends the buyer back. Not authoritative: only the notify pays an order."""
    order_no = (request.args.get("out_trade_no") or request.args.get("order") or "")[:64]
    try:
        order = services.get_order(order_no) if order_no else None
    except NotFound:
        order = None
    if order is not None and order.tenant_id == g.tenant.id and _may_see(order):
        return redirect(url_for("orders.order_page", order_no=order.order_no, returned=1))
    # another browser, or no such order: say the same thing either way
    return render("lookup.html", form=LookupForm(formdata=None), returned=True)


# ----- the order page -------------------------------------------------------------

def _lines_with_codes(order: Order) -> list[tuple]:
    """(line, [(label, value) of the buyer's input], codes once delivered) per line."""
    from kameng.shop.catalog.models import Product

    delivered = order.status == "delivered"
    out = []
    for line in order.lines:
        product = db.session.get(Product, line.product_id)
        labels = {spec.get("name"): spec.get("label") or spec.get("name")
                  for spec in (product.fields if product else None) or []
                  if isinstance(spec, dict)}
        inputs = [(labels.get(name) or name, value) for name, value in (line.fields or {}).items()]
        out.append((line, inputs, line_codes(line) if delivered else []))
    return out


@bp.route("/o/<order_no>")
def order_page(order_no: str):
    order = _visible_order(order_no)
    options = (paying.pay_options(g.tenant, _customer(), with_balance=False)
               if order.status == "pending" else [])
    return render("order.html", order=order, lines=_lines_with_codes(order), options=options,
                  waiting=order.status in WAITING,
                  returned=bool(request.args.get("returned")),
                  has_manual=any(line.kind == "manual" for line in order.lines))


@bp.route("/o/<order_no>/status")
def order_status(order_no: str):
    order = _visible_order(order_no)
    response = jsonify(order_no=order.order_no, status=order.status,
                       delivered=order.status == "delivered")
    response.headers["Cache-Control"] = "no-store"
    return response


# ----- lookup ---------------------------------------------------------------------

def _lookup_limit() -> str:
    return current_app.config.get("LOOKUP_RATE_LIMIT") or "10 per minute"


def _per_shop_ip() -> str:
    return f"lookup:{g.tenant.id}:{request.remote_addr}"


@bp.route("/lookup", methods=["GET", "POST"])
@limiter.limit(_lookup_limit, methods=["POST"], key_func=_per_shop_ip)
def lookup():
    if request.method == "GET":
        form = LookupForm(formdata=None, order_number=request.args.get("order_number", ""))
        return render("lookup.html", form=form)
    form = LookupForm()
    if not form.validate():
        return render("lookup.html", form=form), 422
    if form.order_number.data:
        order = services.lookup(form.order_number.data, form.contact.data,
                                form.lookup_password.data)
        found = [order] if order is not None and order.tenant_id == g.tenant.id else []
    else:
        found = services.lookup_by_contact(g.tenant, form.contact.data,
                                           form.lookup_password.data)
    if not found:
        # one answer whether the number or the contact exists or not
        return render("lookup.html", form=form, failed=True)
    for order in found:
        _remember(order)
    if len(found) == 1:
        return redirect(url_for("orders.order_page", order_no=found[0].order_no))
    return render("lookup.html", form=form, found=found)


# ----- a customer's own orders ----------------------------------------------------

@bp.route("/account/orders")
@login_required
def my_orders():
    customer = _customer()
    if customer is None:
        abort(404)
    page = keyset_page(select(Order).where(Order.customer_id == customer.id), Order.id,
                       MY_ORDERS_PAGE, requested_before())
    return render("my_orders.html", orders=page.rows, older=page.older)
