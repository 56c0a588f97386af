"""Deployment checks of our own, run by `manage.py check --deploy` next to Django's (registered in
ChatConfig.ready). They catch settings that are fine on a laptop and unsafe on the internet."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def production_settings_check(app_configs=None, **kwargs) -> list:
    problems = []
    if settings.SECURE and not settings.METRICS_TOKEN:
        problems.append(
            Error(
                "METRICS_TOKEN is not set: /metrics is open to anyone (conversation counts, queue depths, "
                "endpoint names).",
                hint="Set METRICS_TOKEN and give the scraper 'Authorization: Bearer <token>'.",
                id="supportbot.E001",
            )
        )
    if settings.SECURE_PROXY_SSL_HEADER and not settings.TRUSTED_PROXIES:
        problems.append(
            Warning(
                "DJANGO_BEHIND_PROXY is set but TRUSTED_PROXIES is empty: every visitor appears to come from the "
                "proxy's address, so one visitor's rate limits and sign-in lockouts apply to all.",
                hint="Set TRUSTED_PROXIES to the proxy's address or network (docs/security.md).",
                id="supportbot.W002",
            )
        )
    return problems
