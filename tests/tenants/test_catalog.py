"""The Chinese catalog covers every string marked for translation, and the compiled
.mo in the tree matches its .po (Flask-Babel reads only the .mo)."""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import kameng.core

TRANSLATIONS = Path(kameng.core.__file__).resolve().parent / "translations"
ZH = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES"


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_every_msgid_in_the_template_has_a_chinese_translation():
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        template = _ids(read_po(f))
    with open(ZH / "messages.po", "rb") as f:
        po = read_po(f)
    translated = {m.id if isinstance(m.id, str) else m.id[0]
                  for m in po if m.id and m.string and not m.fuzzy
                  and (m.string if isinstance(m.string, str) else all(m.string))}
    assert template, "empty template"
    assert sorted(template - translated) == []


def test_the_compiled_catalog_matches_the_po_file():
    with open(ZH / "messages.po", "rb") as f:
        po = {(m.id if isinstance(m.id, str) else m.id[0]): m.string
              for m in read_po(f) if m.id and not m.fuzzy}
    with open(ZH / "messages.mo", "rb") as f:
        mo = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in read_mo(f) if m.id}
    assert mo == po
