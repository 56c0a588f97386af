"""Every string Supportbot marks for translation has a Korean translation in the compiled catalogues.

The strings are read from the sources the way makemessages reads them (Django's templatize for templates, the
gettext calls in Python and the console's scripts), and looked up in the committed .mo files, so a new template
string without a Korean translation, or a .po edited but not compiled, fails here.
"""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.utils.translation.template import templatize

from supportbot.chat.widget_strings import STRINGS

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "locale" / "ko" / "LC_MESSAGES"
SOURCES = ("supportbot", "kb", "feedback", "templates")
_PY_CALLS = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
_TEMPLATE_CALL = re.compile(r"\b(?:n?gettext|_)\((u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"))")
_JS_CALL = re.compile(r"\bgettext\((\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')\)")
_WIDGET_CALL = re.compile(r"\bt\((\"(?:[^\"\\]|\\.)*\")")
_STATUS_CALL = re.compile(r"setStatus\((\"(?:[^\"\\]|\\.)+\")")


def _catalog(domain: str) -> dict:
    with (LOCALE / f"{domain}.mo").open("rb") as handle:
        return gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]


def _translated(catalog: dict, msgid: str) -> bool:
    return bool(catalog.get(msgid) or catalog.get((msgid, 0)))


def _files(suffix: str):
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob(f"*{suffix}")):
            if "migrations" not in path.parts and "vendor" not in path.parts:
                yield path


def _python_strings(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = getattr(node, "func", None) and getattr(node.func, "id", getattr(node.func, "attr", ""))
        first = node.args[0] if isinstance(node, ast.Call) and node.args else None
        if name in _PY_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.add(first.value)
    return found


def _template_strings(path: Path) -> set[str]:
    code = templatize(path.read_text(encoding="utf-8"))
    return {ast.literal_eval(literal.removeprefix("u")) for literal in _TEMPLATE_CALL.findall(code)}


def _js_strings(path: Path) -> set[str]:
    return {ast.literal_eval(literal) for literal in _JS_CALL.findall(path.read_text(encoding="utf-8"))}


def test_every_server_and_template_string_has_a_korean_translation():
    # given
    catalog = _catalog("django")
    wanted = set().union(*map(_python_strings, _files(".py")), *map(_template_strings, _files(".html")))
    # then
    assert len(wanted) > 250
    missing = sorted(s for s in wanted if s and not _translated(catalog, s))
    assert not missing, missing


def test_every_console_script_string_has_a_korean_translation():
    catalog = _catalog("djangojs")
    wanted = set().union(*map(_js_strings, (ROOT / "supportbot" / "console" / "static").rglob("*.js")))
    assert len(wanted) > 40
    assert not sorted(s for s in wanted if not _translated(catalog, s))


def test_the_widget_asks_the_server_only_for_strings_it_knows():
    # given: the English texts the widget looks up, directly (t("...")) or through setStatus("...")
    script = (ROOT / "supportbot" / "chat" / "static" / "supportbot" / "widget.js").read_text(encoding="utf-8")
    looked_up = {ast.literal_eval(literal) for literal in _WIDGET_CALL.findall(script)}
    looked_up |= {ast.literal_eval(literal) for literal in _STATUS_CALL.findall(script)}
    literals = {ast.literal_eval(literal) for literal in re.findall(r'"(?:[^"\\\n]|\\.)*"', script)}
    # then: every one is served (and so translated), and every served one is in the script
    assert looked_up - set(STRINGS) == set()
    assert set(STRINGS) - literals == set()
    assert {"Talk to a human", "Reconnecting…", "Ask a question…"} <= looked_up


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_catalogues_are_compiled_from_the_current_po_files(domain):
    po = (LOCALE / f"{domain}.po").read_text(encoding="utf-8")
    # then: nothing left fuzzy or empty, and the .mo holds as many messages as the .po
    assert "#, fuzzy" not in po
    entries = len(re.findall(r"^msgid ", po, re.M)) - 1  # the header
    assert len({k if isinstance(k, str) else k[0] for k in _catalog(domain) if k}) == entries
