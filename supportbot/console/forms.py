from __future__ import annotations

import re

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from feedback.models import ExportJob, Rating
from kb import SEARCH_MODES
from supportbot.chat.models import Widget
from supportbot.console import throttling
from supportbot.console.access import is_console_agent
from supportbot.console.services import WIDGET_FIELDS


class ThrottledSignInMixin:
    """Refuses a sign-in for a while after too many failures (supportbot/console/throttling.py), before the
    password is checked; shared by the console's and the admin's sign-in forms so both count the same failures."""

    throttled_message = _("Too many failed sign-in attempts. Wait 15 minutes and try again.")

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = throttling.signin_address(self.request)
        if throttling.login_blocked(username=username, address=address):
            raise forms.ValidationError(self.throttled_message, code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttling.login_failure_record(username=username, address=address)
            raise
        throttling.login_failures_clear(username=username, address=address)
        return cleaned


class ConsoleLoginForm(ThrottledSignInMixin, AuthenticationForm):
    """Django's sign-in, throttled, and only for staff."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_staff": _("This account may not use the agent console."),
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not is_console_agent(user):
            raise forms.ValidationError(self.error_messages["not_staff"], code="not_staff")


class AdminLoginForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The Django admin's sign-in, throttled like the console's (installed in supportbot/urls.py)."""


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        return [single(item, initial) for item in data] if isinstance(data, list | tuple) else [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(label=_("Files (Markdown, HTML, PDF, text)"))


class UrlsForm(forms.Form):
    urls = forms.CharField(
        label=_("Web pages or sitemaps, one per line"), widget=forms.Textarea(attrs={"rows": 3}), max_length=20000
    )

    def clean_urls(self) -> list[str]:
        urls = [line.strip() for line in self.cleaned_data["urls"].splitlines() if line.strip()]
        validate = URLValidator(schemes=["http", "https"])
        for url in urls:
            try:
                validate(url)
            except forms.ValidationError as exc:
                raise forms.ValidationError(_("Not a web address: %(url)s"), params={"url": url}) from exc
        if not urls:
            raise forms.ValidationError(_("Give at least one address."))
        return urls


class PlaygroundForm(forms.Form):
    q = forms.CharField(label=_("Query"), max_length=1000)
    mode = forms.ChoiceField(label=_("Mode"), choices=[(m, m) for m in SEARCH_MODES], initial="hybrid", required=False)
    k = forms.IntegerField(label=_("Results"), min_value=1, max_value=50, initial=10, required=False)


class LinesField(forms.CharField):
    """A list edited as one item per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


_ORIGIN = re.compile(r"^https?://[^/\s]+$")


class WidgetForm(forms.ModelForm):
    allowed_origins = LinesField(
        required=False,
        label=_("Allowed origins"),
        help_text=_('One per line, like https://www.example.com; "self" allows pages Supportbot serves itself.'),
    )
    allowed_topics = LinesField(required=False, label=_("Allowed topics"))
    banned_words = LinesField(required=False, label=_("Banned words"))
    competitor_names = LinesField(required=False, label=_("Competitor names"))
    # Links in answers (issue #13): domains beyond the knowledge base's own that answers may link to.
    answer_link_domains = LinesField(
        required=False,
        label=_("Other link domains"),
        help_text=_(
            "Answers link only to the sites the knowledge base comes from. One domain per line (like "
            "status.example.com, subdomains included) that answers may link to as well."
        ),
    )

    class Meta:
        model = Widget
        fields = WIDGET_FIELDS
        labels = {
            "name": _("Name"),
            "title": _("Title"),
            "greeting": _("Greeting"),
            "accent_color": _("Accent colour"),
            "pii_policy": _("Personal data"),
        }

    def clean_accent_color(self) -> str:
        color = self.cleaned_data["accent_color"]
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
            raise forms.ValidationError(_("Use a colour like #3558e6."))
        return color

    def clean_allowed_origins(self) -> list[str]:
        origins = [origin.rstrip("/") for origin in self.cleaned_data["allowed_origins"]]
        wrong = [o for o in origins if o not in ("self", "*") and not _ORIGIN.match(o)]
        if wrong:
            raise forms.ValidationError(_("Not an origin: %(origin)s"), params={"origin": wrong[0]})
        return origins

    def clean_answer_link_domains(self) -> list[str]:
        domains = [_domain_plain(line) for line in self.cleaned_data["answer_link_domains"]]
        wrong = [d for d in domains if not _DOMAIN.match(d)]
        if wrong:
            raise forms.ValidationError(_("Not a domain: %(domain)s"), params={"domain": wrong[0]})
        return list(dict.fromkeys(domains))


_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


def _domain_plain(line: str) -> str:
    """The domain a line names: "https://Status.Example.com/" is status.example.com, "*.example.com" example.com."""
    line = line.strip().lower().removeprefix("https://").removeprefix("http://").removeprefix("*.")
    return line.split("/", 1)[0].rstrip(".")


class CorrectionForm(forms.Form):
    text = forms.CharField(label=_("The answer the bot should have given"), widget=forms.Textarea(attrs={"rows": 6}))


# --- Drafts from resolved conversations (issue #15): the reviewer's edit of a draft article ---
class DraftForm(forms.Form):
    question = forms.CharField(label=_("Question (the article's title)"), max_length=300)
    answer = forms.CharField(label=_("Answer"), widget=forms.Textarea(attrs={"rows": 8}), max_length=8000)


class EntryForm(forms.Form):
    title = forms.CharField(label=_("Question (the article's title)"), max_length=300)
    body = forms.CharField(label=_("Answer (Markdown)"), widget=forms.Textarea(attrs={"rows": 8}), max_length=20000)


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportJob.Format.choices)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)
    rating = forms.ChoiceField(choices=[("", _("any")), *Rating.Value.choices], required=False)
    widget = forms.CharField(required=False, max_length=64)
