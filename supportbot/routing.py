"""Websocket routes. Each declares which pages may open it (supportbot/origins.py); tests/test_origins.py fails
for a route that does not."""

from __future__ import annotations

from django.urls import path

from supportbot.chat.consumers import ChatConsumer
from supportbot.console.consumers import ConsoleConsumer
from supportbot.origins import own_origins, widget_origins

websocket_urlpatterns = [
    # Customers' pages: the consumer checks the page's origin against the widget's allowed origins and the token.
    path("ws/chat/", widget_origins(ChatConsumer.as_asgi())),
    # Signed in with the session cookie: only Supportbot's own pages, refused at the handshake otherwise.
    path("ws/console/", own_origins(ConsoleConsumer.as_asgi(), route="console")),
]
