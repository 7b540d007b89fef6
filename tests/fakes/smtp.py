"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: the ``smtp``
fixture points the app's ``KAMENG_SMTP_URL`` at it."""
from __future__ import annotations

import re
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self._lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                        policy=policy.default)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    app.config["MAIL_FROM"] = "shop@kameng.test"
    yield inbox
    controller.stop()


def confirmation_link(message) -> str:
    """The sign-up confirmation link in a mail the inbox received."""
    return re.search(r"http://\S+/register/confirm/\S+", message.get_content()).group(0)
