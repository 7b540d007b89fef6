"""Lazily translated text that a template escapes like any other string.

Flask-Babel's ``lazy_gettext`` returns a ``LazyString`` whose ``__html__`` gives its
text back unescaped, so Jinja, markupsafe's ``escape`` and every WTForms widget take
it for safe HTML. A message formatted with data — ``_l("Category: %(name)s",
name=category.name)`` as a select option, a label, a form error, a value in a page
or an HTML mail — would write that data into the page raw.

``lazy_gettext`` here is the same lazy translation, but its HTML form is the escaped
text: a lazy string is text, never markup. Every module takes ``_l`` from here
(``tests/test_hostile_strings.py`` checks that none imports Flask-Babel's).
"""
from __future__ import annotations

from flask_babel import LazyString, gettext
from markupsafe import escape


class LazyText(LazyString):
    """A lazily translated string that renders escaped in HTML."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def lazy_gettext(string: str, **variables) -> LazyText:
    """``gettext(string, **variables)`` when shown, escaped when shown in HTML."""
    return LazyText(gettext, string, **variables)
