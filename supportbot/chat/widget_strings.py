"""The widget's interface text in the visitor's language: GET /api/widget/strings?lang=ko&key=WIDGET_KEY.

The strings live here, wrapped for gettext, so they are translated with the rest of Supportbot (locale/*.po)
and not in the script. widget.js carries the English ones as defaults and asks for these only when its page
is in another language, before it connects; a missing or failed answer leaves it in English. An endpoint (not
the session frame) because the launcher and the panel are drawn before any connection, the answer is the same
for every visitor (so browsers and proxies cache it), and the websocket's connect code stays untouched.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_GET

from supportbot.access_rules import ANONYMOUS, access
from supportbot.chat.services import origin_allowed, widget_for_key
from supportbot.chat.visitor_language import language_supported

CACHE_SECONDS = 3600

# Exactly the English text widget.js writes (its t("...") calls); the script looks them up by that text.
STRINGS = (
    gettext_noop("Chat with us"),
    gettext_noop("Support"),
    gettext_noop("Close chat"),
    gettext_noop("Your question"),
    gettext_noop("Ask a question…"),
    gettext_noop("Send"),
    gettext_noop("Talk to a human"),
    gettext_noop("Connecting…"),
    gettext_noop("Reconnecting…"),
    gettext_noop("Chat unavailable on this site"),
    gettext_noop("Agents online"),
    gettext_noop("Agent"),
    gettext_noop("Support agent"),
    gettext_noop("Sources"),
    gettext_noop("Source {n}: {title}"),
    gettext_noop("Confidence: {label}. {hint}"),
    gettext_noop("Helpful"),
    gettext_noop("Not helpful"),
    gettext_noop("What was wrong?"),
    gettext_noop("Comment (optional)"),
    gettext_noop("Send feedback"),
    gettext_noop("Thanks for the feedback."),
    gettext_noop("Your email"),
    gettext_noop("you@example.com"),
    gettext_noop("Thanks — we'll email you. Your ticket reference is {reference}."),
    gettext_noop("Something went wrong."),
    gettext_noop("Wrong"),
    gettext_noop("Incomplete"),
    gettext_noop("Not relevant"),
    gettext_noop("Outdated"),
    gettext_noop("Unsafe"),
    gettext_noop("Other"),
    gettext_noop("Confident"),
    gettext_noop("The help centre clearly supports this answer."),
    gettext_noop("Fairly sure"),
    gettext_noop("The help centre supports most of this answer; check the sources."),
    gettext_noop("Not sure"),
    gettext_noop("The help centre may not cover this. A human can help."),
    gettext_noop("The message is empty."),
    gettext_noop("That message is too long. Please shorten it."),
    gettext_noop("This conversation is closed. Reload the page to start a new one."),
    gettext_noop("That does not look like an email address."),
    gettext_noop("Something went wrong on our side. Your message was kept."),
    gettext_noop("You're sending messages too quickly. Please wait a moment."),
    gettext_noop(
        "For now, answers come straight from the help centre articles. A human can help: use “Talk to a human”."
    ),
    # CSAT survey (issue #15)
    gettext_noop("How would you rate this conversation?"),
    gettext_noop("Your rating"),
    gettext_noop("{n} out of 5"),
    gettext_noop("Not satisfied"),
    gettext_noop("Very satisfied"),
    gettext_noop("Send rating"),
    gettext_noop("Choose a rating from 1 to 5."),
    gettext_noop("Thanks for your rating."),
    gettext_noop("Your rating could not be sent. Please try again."),
)


@cache
def widget_strings_for(language: str) -> dict[str, str]:
    """{English text: its translation} for every widget string in `language`; untranslated ones are left out."""
    with translation.override(language):
        translated = {english: gettext(english) for english in STRINGS}
    return {english: text for english, text in translated.items() if text != english}


# The same translated interface text for everybody (publicly cached); only reading it cross-origin needs the widget.
@require_GET
@access(ANONYMOUS)
def widget_strings(request: HttpRequest) -> JsonResponse:
    language = language_supported(request.GET.get("lang")) or settings.LANGUAGE_CODE
    response = JsonResponse({"lang": language, "strings": widget_strings_for(language)})
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Content-Language"] = language
    # Readable cross-origin only from the pages the widget itself may open a chat on.
    origin = request.headers.get("Origin", "")
    widget = widget_for_key(request.GET.get("key", ""))
    if origin and widget and origin_allowed(widget, origin=origin, host=request.get_host()):
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response
