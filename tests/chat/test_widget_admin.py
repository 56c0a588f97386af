"""Widgets and their allowed origins are configured in the admin."""

from __future__ import annotations

import pytest

from supportbot.chat.models import Widget

pytestmark = pytest.mark.django_db


def test_a_staff_admin_creates_a_widget_with_allowed_origins(admin_client):
    # when
    response = admin_client.post(
        "/admin/chat/widget/add/",
        {
            "name": "Docs site",
            "key": "docs-site",
            "allowed_origins": '["https://docs.example.com"]',
            "title": "Ask the docs",
            "greeting": "Hello!",
            "accent_color": "#112233",
            "pii_policy": "redact",
            "allowed_topics": "[]",
            "banned_words": '["darn"]',
            "competitor_names": "[]",
        },
    )
    # then
    assert response.status_code == 302, response.content
    widget = Widget.objects.get(key="docs-site")
    assert widget.allowed_origins == ["https://docs.example.com"]
    assert (widget.pii_policy, widget.banned_words) == ("redact", ["darn"])


def test_the_admin_is_staff_only(client):
    response = client.get("/admin/chat/widget/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
