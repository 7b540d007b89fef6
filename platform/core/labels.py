"""What a page shows for an internal identifier: one label map per vocabulary.

Statuses, account and transaction kinds, roles, payment methods and the like are stored as
identifiers (``earnings_pending``, ``on_sale``, ``wallet_credit``); no page prints one.
A template writes ``order.status|label('order')``; code calls ``label(value, 'order')``.
An identifier a map does not know is shown through the ``unknown`` fallback (its words,
not its underscores), so a new status added without a label still reads as text —
``tests/test_crawl.py`` fails on it in the Chinese pages.

Every label is a lazy string (``kameng.core.i18n``), translated when shown.
"""
from __future__ import annotations

from kameng.core.i18n import lazy_gettext as _l

ORDER = {
    "pending": _l("Awaiting payment"), "paid": _l("Paid"), "fulfilling": _l("Delivering"),
    "delivered": _l("Delivered"), "failed": _l("Failed"), "refunded": _l("Refunded"),
    "expired": _l("Expired"), "awaiting_funds": _l("Paid, waiting for the shop"),
}
LINE = {
    "pending": _l("Awaiting payment"), "processing": _l("Processing"),
    "unknown": _l("Awaiting the supplier's answer"), "delivered": _l("Delivered"),
    "failed": _l("Failed"), "refunded": _l("Refunded"),
}
PRODUCT_KIND = {"card": _l("Card code"), "topup": _l("Top-up"), "manual": _l("Manual")}
PRODUCT_STATUS = {"on_sale": _l("On sale"), "hidden": _l("Hidden"), "sold_out": _l("Sold out")}
STOCK = {"in_stock": _l("In stock"), "low": _l("Low stock"), "sold_out": _l("Sold out")}
CODE = {"available": _l("Available"), "reserved": _l("Reserved"), "sold": _l("Sold"),
        "void": _l("Void")}
BATCH = {"queued": _l("Queued"), "running": _l("Importing"), "done": _l("Done"),
         "failed": _l("Failed")}
ROLE = {"owner": _l("Owner"), "staff": _l("Staff"), "customer": _l("Customer"),
        # a staff account's role (User.staff_role)
        "manager": _l("Manager"), "support": _l("Customer support"), "finance": _l("Finance")}
TENANT = {"active": _l("Active"), "pending": _l("Pending"),
          "suspended": _l("Suspended"), "closed": _l("Closed")}
ACCOUNT = {
    "wallet": _l("Wallet"), "earnings_pending": _l("Earnings on hold"),
    "earnings_available": _l("Available earnings"), "withdrawal_hold": _l("Withdrawals in progress"),
    "credits_issued": _l("Wallet credits granted"), "fees": _l("Payment fees"),
    "funded": _l("Prepaid balance with the parent shop"), "revenue": _l("Platform revenue"),
    "sales_clearing": _l("Sales not yet split"), "supplier_payable": _l("Owed to suppliers"),
    "refunds": _l("Refunds paid out"), "payouts": _l("Withdrawals paid out"),
    "rounding": _l("Rounding remainders"), "suspense": _l("Suspense"),
    "clearing_manual": _l("Money received offline"),
    "clearing_epay": _l("Epay receipts"), "clearing_stripe": _l("Card receipts"),
}
TRANSACTION = {
    "order_payment": _l("Order payment"), "order_refund": _l("Order refund"),
    "reversal": _l("Refund"), "commission": _l("Commission"),
    "commission_release": _l("Earnings released"),
    "commission_reversal": _l("Commission reversed"),
    "commission_clawback": _l("Commission taken back"), "plan_payment": _l("Plan payment"),
    "wallet_credit": _l("Credit from the shop"), "wallet_spend": _l("Payment"),
    "wallet_topup": _l("Wallet top-up"), "wallet_refund": _l("Refund"),
    "withdrawal_hold": _l("Withdrawal requested"), "withdrawal_payout": _l("Withdrawal paid"),
    "withdrawal_reject": _l("Withdrawal rejected"), "funded_topup": _l("Prepaid top-up"),
    "order_funding": _l("Order paid from the prepaid balance"),
    "order_funding_refund": _l("Order refund to the prepaid balance"),
    "funding_offline": _l("Prepaid balance credited by the operator"),
    "funding_transfer": _l("Prepaid balance from the parent shop"),
    "funding_from_earnings": _l("Earnings moved to the prepaid balance"),
    "wallet_credit_funded": _l("Credit from the shop's prepaid balance"),
}
COMMISSION = {"pending": _l("On hold"), "available": _l("Available"), "reversed": _l("Reversed")}
WITHDRAWAL = {"requested": _l("Requested"), "approved": _l("Approved"),
              "rejected": _l("Rejected"), "paid": _l("Paid out")}
PAYOUT_METHOD = {"alipay": _l("Alipay"), "bank": _l("Bank card"), "usdt": _l("USDT"),
                 "stripe_connect": _l("Stripe Connect")}
PAYMENT_METHOD = {"balance": _l("Balance"), "stripe": _l("Card (Stripe)"), "epay": _l("Epay"),
                  "alipay": _l("Alipay"), "wxpay": _l("WeChat Pay"), "qqpay": _l("QQ Wallet")}
PLAN = {"active": _l("Active"), "grace": _l("Grace period"), "expired": _l("Expired"),
        "retired": _l("Retired")}
INTERVAL = {"month": _l("month"), "year": _l("year")}
FEATURE = {"custom_domain": _l("Custom domain"), "sub_shops": _l("Sub-shops"),
           "own_gateway": _l("Own payment gateway"),
           "staff": _l("Staff accounts"), "markup": _l("Markup"), "theme": _l("Themes")}
REFUND_REQUEST = {"open": _l("open"), "approved": _l("approved"), "rejected": _l("rejected")}
REFUND_STEP = {"filed": _l("Filed"), "forwarded": _l("Forwarded"), "rejected": _l("Rejected"),
               "approved": _l("Approved")}
REFUND_KIND = {"reversal": _l("Full refund"), "goodwill": _l("Refund to the wallet"),
               "outside": _l("Refund outside the platform")}
TOPUP = {"pending": _l("Awaiting payment"), "paid": _l("Paid")}
SUPPLIER_ADAPTER = {"local": _l("Own stock"), "http_topup": _l("HTTP top-up API"),
                    "kameng": _l("Another kameng")}
DOMAIN = {"subdomain": _l("Subdomain"), "custom": _l("Custom domain")}
MARKUP = {"percent": _l("Percent"), "fixed": _l("Fixed amount")}
APPROVER = {"master": _l("The master shop"), "parent": _l("The parent shop")}
FEE_PAYER = {"seller": _l("The selling shop"), "master": _l("The master shop")}
SIGNUP_MODE = {"closed": _l("Closed"), "approval": _l("With my approval"),
               "open": _l("Open to everyone")}

VOCABULARIES: dict[str, dict] = {
    "order": ORDER, "line": LINE, "product_kind": PRODUCT_KIND, "product": PRODUCT_STATUS,
    "stock": STOCK, "code": CODE, "batch": BATCH, "role": ROLE, "tenant": TENANT,
    "account": ACCOUNT, "transaction": TRANSACTION, "commission": COMMISSION,
    "withdrawal": WITHDRAWAL, "payout_method": PAYOUT_METHOD, "payment": PAYMENT_METHOD,
    "plan": PLAN, "interval": INTERVAL, "feature": FEATURE, "refund_request": REFUND_REQUEST,
    "refund_step": REFUND_STEP, "refund_kind": REFUND_KIND, "topup": TOPUP,
    "supplier": SUPPLIER_ADAPTER, "domain": DOMAIN, "markup": MARKUP, "approver": APPROVER,
    "fee_payer": FEE_PAYER, "signup": SIGNUP_MODE,
}


def label(value, vocabulary: str):
    """The label of ``value`` in ``vocabulary``; an unknown value reads as words
    (``clearing_epay`` → ``clearing epay``), never as an identifier with underscores."""
    if value is None or value == "":
        return ""
    known = VOCABULARIES[vocabulary].get(str(value))
    if known is not None:
        return known
    return str(value).replace("_", " ")


def identifiers() -> set[str]:
    """Every identifier some vocabulary labels (what the crawl test looks for)."""
    return {key for vocabulary in VOCABULARIES.values() for key in vocabulary}


def init_app(app) -> None:
    app.add_template_filter(label, "label")
    app.add_template_global(label, "label")
