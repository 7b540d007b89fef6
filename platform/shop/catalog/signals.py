"""Signals sent after a catalog change is committed (e.g. for price caches to drop).

Receivers get the Product or Category as sender: ``product_changed.connect(fn)``.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

product_changed = _signals.signal("kameng.product-changed")
category_changed = _signals.signal("kameng.category-changed")
