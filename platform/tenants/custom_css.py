"""A shop's custom CSS (装修 → custom CSS): parsed with ``tinycss2``, refused when it
could do more than style the page.

The stylesheet is served from its own URL (``/_theme/custom.css``), never written
into a page, but it is still checked before it is stored, and each refusal names the
problem and its line:

- any ``<`` (no ``</style>``, no markup: the text is CSS and nothing else);
- ``@import`` and any at-rule but ``@media``, ``@supports``, ``@keyframes``,
  ``@font-face`` (and their vendor-prefixed forms);
- ``expression(…)`` (old IE's script in CSS), ``behavior`` and ``-moz-binding``;
- ``url(…)`` and ``image-set``/``image`` strings other than a ``/media/`` path of
  this platform or an ``https://`` address (so no ``javascript:``, ``data:``, or
  a plain-http tracker);
- anything the parser cannot read, and more than ``CSS_LIMIT`` characters.

Escapes (``exp\\72 ession``) are decoded by the tokenizer before the checks see a
name, so they cannot smuggle a refused word through. What is served is tinycss2's
serialisation of the parsed rules, without comments.
"""
from __future__ import annotations

import re

import tinycss2
from tinycss2 import ast

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

CSS_LIMIT = 20_000
ALLOWED_AT_RULES = {"media", "supports", "keyframes", "font-face"}
REFUSED_PROPERTIES = {"behavior", "-ms-behavior", "-moz-binding", "binding"}
# a /media/ path with no dot-dot, no scheme, no backslash; or an https:// address
SAFE_URL_RE = re.compile(r"^(/media/[A-Za-z0-9_./-]+|https://[^\s\"'()\\<>]+)$")
VENDOR_RE = re.compile(r"^-[a-z]+-")
JAVASCRIPT_URL_RE = re.compile(r"url\(\s*['\"]?\s*javascript:", re.IGNORECASE)


def _refuse(message, line: int | None):
    raise InvalidInput(_l("custom CSS, line %(line)s: %(problem)s", line=line or 1,
                          problem=message), field="custom_css")


def check_css(text: str) -> str:
    """``text`` as stored (trailing blanks trimmed) when it is acceptable; else
    ``InvalidInput`` (field ``custom_css``) naming the first problem and its line."""
    # only trailing blanks go: leading lines keep the line numbers the owner sees
    text = (text or "").replace("\r\n", "\n").rstrip()
    if not text.strip():
        return ""
    if len(text) > CSS_LIMIT:
        raise InvalidInput(_l("custom CSS is longer than %(n)s characters", n=CSS_LIMIT),
                           field="custom_css")
    for number, line in enumerate(text.split("\n"), start=1):
        if "<" in line:
            what = _l("“</style>” is not allowed") if "</style" in line.lower() \
                else _l("“<” is not allowed (no HTML in CSS)")
            _refuse(what, number)
        if JAVASCRIPT_URL_RE.search(line):   # the tokenizer would call it a bad url
            _refuse(_l("url(javascript:…) is not allowed"), number)
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    _check_rules(rules)
    return text


def clean_css(text: str) -> str:
    """The stylesheet to serve: the checked text, re-serialised from its parse."""
    if not check_css(text):
        return ""
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    return tinycss2.serialize(rules).strip() + "\n"


def _check_rules(rules) -> None:
    for rule in rules:
        if isinstance(rule, ast.ParseError):
            _refuse(_l("the CSS cannot be read (%(why)s)", why=rule.message), rule.source_line)
        elif isinstance(rule, ast.AtRule):
            _check_at_rule(rule)
        elif isinstance(rule, ast.QualifiedRule):
            _check_tokens(rule.prelude)
            _check_declarations(rule.content)


def _check_at_rule(rule: ast.AtRule) -> None:
    name = VENDOR_RE.sub("", rule.lower_at_keyword)
    if name == "import":
        _refuse(_l("@import is not allowed"), rule.source_line)
    if name not in ALLOWED_AT_RULES:
        _refuse(_l("@%(name)s is not allowed", name=rule.at_keyword), rule.source_line)
    _check_tokens(rule.prelude)
    if rule.content is None:
        return
    if name == "font-face":
        _check_declarations(rule.content)
    elif name == "keyframes":
        # keyframe selectors (from, 50%) each with declarations
        _check_rules(tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                              skip_whitespace=True))
    else:
        _check_rules(tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                              skip_whitespace=True))


def _check_declarations(content) -> None:
    if content is None:
        return
    for item in tinycss2.parse_blocks_contents(content, skip_comments=True,
                                               skip_whitespace=True):
        if isinstance(item, ast.ParseError):
            _refuse(_l("the CSS cannot be read (%(why)s)", why=item.message), item.source_line)
        elif isinstance(item, ast.Declaration):
            if item.lower_name in REFUSED_PROPERTIES:
                _refuse(_l("the property “%(name)s” is not allowed", name=item.name),
                        item.source_line)
            _check_tokens(item.value)
        elif isinstance(item, ast.QualifiedRule):    # nested rules (CSS nesting)
            _check_tokens(item.prelude)
            _check_declarations(item.content)
        elif isinstance(item, ast.AtRule):
            _check_at_rule(item)


def _check_tokens(tokens) -> None:
    for token in tokens or ():
        if isinstance(token, ast.ParseError):
            _refuse(_l("the CSS cannot be read (%(why)s)", why=token.message),
                    token.source_line)
        elif isinstance(token, ast.URLToken):
            _check_url(token.value, token.source_line)
        elif isinstance(token, ast.FunctionBlock):
            name = token.lower_name
            if name == "expression":
                _refuse(_l("expression() is not allowed"), token.source_line)
            if name in ("url", "src", "image", "image-set", "-webkit-image-set", "cross-fade"):
                for arg in token.arguments:
                    if isinstance(arg, ast.StringToken):
                        _check_url(arg.value, arg.source_line)
            _check_tokens(token.arguments)
        elif isinstance(token, ast.ParenthesesBlock | ast.SquareBracketsBlock
                        | ast.CurlyBracketsBlock):
            _check_tokens(token.content)
        elif isinstance(token, ast.IdentToken) and token.lower_value == "expression":
            _refuse(_l("expression() is not allowed"), token.source_line)


def _check_url(value: str, line: int) -> None:
    url = (value or "").strip()
    if url.lower().startswith("javascript:"):
        _refuse(_l("url(javascript:…) is not allowed"), line)
    if not SAFE_URL_RE.match(url) or ".." in url:
        _refuse(_l("url(%(url)s) is not allowed: use a /media/ path or an https:// address",
                   url=url[:60]), line)
