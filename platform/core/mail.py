"""Sending e-mail over SMTP (``KAMENG_SMTP_URL``: smtp://user:pw@host:port, smtps://…)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app


class MailNotConfigured(RuntimeError):
    pass


def mail_configured() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def send_mail(to: str, subject: str, text: str, html: str | None = None,
              sender: str | None = None) -> None:
    url = current_app.config.get("SMTP_URL")
    if not url:
        raise MailNotConfigured("KAMENG_SMTP_URL is not set")
    parts = urlsplit(url)
    msg = EmailMessage()
    msg["From"] = sender or current_app.config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    smtp_cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_cls(parts.hostname or "localhost", parts.port or 25, timeout=20) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(msg)


def send_to_each(addresses, subject: str, text: str) -> str:
    """One message to each address (an outbox job's notice to a shop's owners); what
    happened, for the job's result. Call it with no transaction open."""
    addresses = list(addresses)
    try:
        for address in addresses:
            send_mail(address, subject, text)
    except MailNotConfigured:
        return "mail not configured"
    return f"sent to {len(addresses)}"
