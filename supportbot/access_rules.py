"""Who may use each endpoint: every URL pattern and websocket route has exactly one access rule.

- anonymous: anyone, no sign-in (the demo help centre, public help pages, health, sign-in forms);
- widget: a customer's page through a widget: a valid widget key and an Origin the widget allows (the data is
  what a visitor could get from the chat anyway);
- agent: signed-in active staff (the console, Django's admin site with its per-model permissions);
- admin: console admins (superusers or the "Support admins" group).

Supportbot's own views declare their rule next to themselves with `@access(rule)`, which also enforces it for the
signed-in rules; the console's `agent_required` and `admin_required` (supportbot/console/access.py, the one place
the checks live) declare theirs as they enforce them. Widget views check the key and origin in their own body,
since each reads the key from a different part of the request. Views Supportbot does not write (Django's admin
site, the language switch) and the websocket routes get theirs from the tables below.

`url_endpoints()` walks the whole URL resolver and `websocket_endpoints()` the websocket routes; tests/
test_url_access.py fails for any endpoint without a rule and requests each one as the rule's outsiders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from django.urls import URLPattern, URLResolver, get_resolver

from supportbot.console.access import admin_required, agent_required

Rule = Literal["anonymous", "widget", "agent", "admin"]
ANONYMOUS: Rule = "anonymous"
WIDGET: Rule = "widget"
AGENT: Rule = "agent"
ADMIN: Rule = "admin"
RULES: tuple[Rule, ...] = (ANONYMOUS, WIDGET, AGENT, ADMIN)
ATTRIBUTE = "access_rule"

# Included URL confs that Supportbot does not write, by namespace: every pattern inside inherits the rule.
# Django's admin site lets in active staff only (AdminSite.has_permission), then checks per-model permissions.
INCLUDED_RULES: dict[str, Rule] = {"admin": AGENT}
# Single patterns of those URL confs, by qualified name: the sign-in form and the language switch are for anyone.
NAMED_RULES: dict[str, Rule] = {"admin:login": ANONYMOUS, "set_language": ANONYMOUS}
# Websocket routes (supportbot/routing.py), by route: the chat consumer checks the widget's token and origins,
# the console consumer a staff session from Supportbot's own pages (supportbot/origins.py).
WEBSOCKET_RULES: dict[str, Rule] = {"ws/chat/": WIDGET, "ws/console/": AGENT}

_ENFORCED: dict[Rule, Callable] = {AGENT: agent_required, ADMIN: admin_required}


def access(rule: Rule) -> Callable[[Callable], Callable]:
    """Declare who may use a view: records the rule on it and, for agent and admin, enforces it (anonymous
    requests are sent to sign in, signed-in users without the role get 403)."""
    if rule not in RULES:
        raise ValueError(f"access rule must be one of {', '.join(RULES)}, got {rule!r}")

    def decorator(view: Callable) -> Callable:
        guarded = _ENFORCED[rule](view) if rule in _ENFORCED else view
        setattr(guarded, ATTRIBUTE, rule)
        return guarded

    return decorator


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern or websocket route with the chain of patterns that leads to it from the root."""

    patterns: tuple
    name: str | None
    callback: Callable
    rule: Rule | None

    @property
    def route(self) -> str:
        return "".join(str(pattern.pattern) for pattern in self.patterns)


def url_endpoints(patterns: Iterable | None = None) -> list[Endpoint]:
    """Every URL pattern under `patterns` (the project's root URL conf by default), includes recursed."""
    root = get_resolver().url_patterns if patterns is None else patterns
    return list(_walk(root, parents=(), namespace="", inherited=None))


def _walk(patterns: Iterable, *, parents: tuple, namespace: str, inherited: Rule | None) -> Iterator[Endpoint]:
    for pattern in patterns:
        chain = (*parents, pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            rule = INCLUDED_RULES.get(pattern.namespace or "", inherited)
            yield from _walk(pattern.url_patterns, parents=chain, namespace=inner, inherited=rule)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else None
            yield Endpoint(chain, name, pattern.callback, _rule_of(pattern.callback, name, inherited))


def _rule_of(callback: Callable, name: str | None, inherited: Rule | None) -> Rule | None:
    declared = getattr(callback, ATTRIBUTE, None)
    if declared is not None:
        return declared
    return NAMED_RULES.get(name or "", inherited)


def websocket_endpoints(patterns: Iterable | None = None) -> list[Endpoint]:
    """Every websocket route (supportbot/routing.py by default) with its rule from WEBSOCKET_RULES."""
    if patterns is None:
        from supportbot.routing import websocket_urlpatterns as patterns
    return [
        Endpoint((pattern,), None, pattern.callback, WEBSOCKET_RULES.get(str(pattern.pattern))) for pattern in patterns
    ]


def unruled(endpoints: Iterable[Endpoint]) -> list[str]:
    """The routes (with names) of endpoints that have no access rule: each one is a bug."""
    return [f"{endpoint.route} ({endpoint.name or 'unnamed'})" for endpoint in endpoints if endpoint.rule is None]
