"""ASGI entry point: Django for HTTP, Channels for websockets.

There is no origin check for all websockets at the edge: the widget's socket is opened from customers' pages,
whose origins are not Supportbot's hosts. Each route applies its own origin policy (supportbot/routing.py,
supportbot/origins.py).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from supportbot.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
