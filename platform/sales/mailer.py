"""The delivery e-mail: both languages in one message, the buyer's first.

Plain text for every mail reader, plus an HTML part (autoescaped: codes and
product names are data, never markup).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import current_app
from jinja2 import Environment, StrictUndefined

from kameng.core.extensions import db
from kameng.core.mail import MailNotConfigured, mail_configured, send_mail
from kameng.core.money import format_money
from kameng.sales.delivery import line_codes
from kameng.sales.models import Order
from kameng.tenants.models import Tenant
from kameng.tenants.services import primary_host

_text_env = Environment(autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                        lstrip_blocks=True)
_html_env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                        lstrip_blocks=True)

SUBJECT = {"zh": "【{shop}】订单 {order_no} 已发货", "en": "{shop}: order {order_no} is delivered"}

TEXT = {
    "zh": """您好，

您在 {{ shop }} 的订单 {{ order.order_no }} 已发货（{{ total }}）。

{% for line in lines %}
{{ line.name }} × {{ line.quantity }}
{% for code in line.codes %}
    {{ code }}
{% endfor %}
{% endfor %}

随时查看订单：{{ lookup_url }}
（输入订单号、联系方式和您设置的查询密码）
请妥善保管卡密，切勿告诉他人。
""",
    "en": """Hello,

Your order {{ order.order_no }} at {{ shop }} is delivered ({{ total }}).

{% for line in lines %}
{{ line.name }} x {{ line.quantity }}
{% for code in line.codes %}
    {{ code }}
{% endfor %}
{% endfor %}

See the order any time: {{ lookup_url }}
(with the order number, your contact and the lookup password you chose)
Keep your codes private: nobody from the shop will ask you for them.
""",
}

HTML = """<!doctype html>
<html><body style="font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#111827">
{% for part in parts %}
<div lang="{{ part.lang }}" style="margin-bottom:28px">
<h2 style="font-size:18px">{{ part.heading }}</h2>
<p>{{ part.intro }}</p>
{% for line in lines %}
<p><strong>{{ line.name }}</strong> &times; {{ line.quantity }}</p>
<ul style="list-style:none;padding:0">
{% for code in line.codes %}
<li style="margin:6px 0"><code style="font-size:16px;background:#f3f4f6;border:1px dashed #d1d5db;padding:6px 10px;border-radius:6px;display:inline-block">{{ code }}</code></li>
{% endfor %}
</ul>
{% endfor %}
<p><a href="{{ lookup_url }}">{{ part.link }}</a></p>
<p style="color:#6b7280;font-size:13px">{{ part.note }}</p>
</div>
{% if not loop.last %}<hr style="border:0;border-top:1px solid #e5e7eb">{% endif %}
{% endfor %}
</body></html>
"""

HTML_PARTS = {
    "zh": {"heading": "订单 {order_no} 已发货", "intro": "您在 {shop} 的订单已发货（{total}）。",
           "link": "查看订单", "note": "请妥善保管卡密，切勿告诉他人。"},
    "en": {"heading": "Order {order_no} is delivered",
           "intro": "Your order at {shop} is delivered ({total}).", "link": "See the order",
           "note": "Keep your codes private: nobody from the shop will ask you for them."},
}


@dataclass
class Message:
    to: str
    subject: str
    text: str
    html: str


def _languages(order: Order, tenant: Tenant) -> list[str]:
    first = (order.locale or tenant.locale or "zh").lower()
    return ["en", "zh"] if first.startswith("en") else ["zh", "en"]


def lookup_url(tenant: Tenant, order: Order) -> str:
    cfg = current_app.config
    port = cfg.get("SERVER_PORT")
    host = primary_host(tenant) + (f":{port}" if port and port not in (80, 443) else "")
    scheme = cfg.get("PREFERRED_URL_SCHEME") or "http"
    return f"{scheme}://{host}/lookup?order_number={order.order_no}"


@cache
def _template(html: bool, lang: str = ""):
    # compiling is ~5 ms a template: once per process, not once per order
    return _html_env.from_string(HTML) if html else _text_env.from_string(TEXT[lang])


def delivery_message(order: Order, tenant: Tenant) -> Message:
    lines = [{"name": line.name, "quantity": line.quantity, "codes": line_codes(line)}
             for line in order.lines]
    total = format_money(order.amount, order.currency)
    url = lookup_url(tenant, order)
    langs = _languages(order, tenant)
    context = {"shop": tenant.name, "order": order, "lines": lines, "total": total,
               "lookup_url": url}
    text = "\n----------------------------------------\n\n".join(
        _template(False, lang).render(**context) for lang in langs)
    fmt = {"shop": tenant.name, "order_no": order.order_no, "total": total}
    parts = [{"lang": lang, **{k: v.format(**fmt) for k, v in HTML_PARTS[lang].items()}}
             for lang in langs]
    html = _template(True).render(parts=parts, lines=lines, lookup_url=url)
    subject = " / ".join(SUBJECT[lang].format(**fmt) for lang in langs)
    return Message(order.contact, subject, text, html)


def send_delivery(order: Order, tenant: Tenant) -> Message:
    """Build and send the delivery e-mail (raises MailNotConfigured without SMTP_URL)."""
    if not mail_configured():
        raise MailNotConfigured("KAMENG_SMTP_URL is not set")  # before any work
    message = delivery_message(order, tenant)
    db.session.commit()  # ends the read: no transaction is open during the SMTP call
    send_mail(message.to, message.subject, message.text, message.html)
    return message
