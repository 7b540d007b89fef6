"""The one namespace of cross-package signals (blinker).

A package sends; another connects its receiver in its ``init_app``. Receivers are
called as ``receiver(sender, **kwargs)``, in the sender's request or job.
"""
from __future__ import annotations

from blinker import Namespace

signals = Namespace()

# a customer signed up in a shop's storefront; sender: the new User (logged in)
user_signed_up = signals.signal("kameng.user-signed-up")
