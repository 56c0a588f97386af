"""The demo pages' widgets, which `manage.py demo_setup` makes sure exist beside the demo knowledge base."""

from __future__ import annotations

from supportbot.chat.models import Widget
from supportbot.chat.services import widget_ensure_demo


def demo_widgets_ensure() -> list[Widget]:
    """The English demo page's widget (key "demo") and the Korean one's (key "demo-ko"); existing ones are kept."""
    return [widget_ensure_demo(), _korean_demo_widget_ensure()]


def _korean_demo_widget_ensure() -> Widget:
    """The Korean demo page's widget: its title and greeting are the widget's own words, so they are Korean."""
    widget, _ = Widget.objects.get_or_create(
        key="demo-ko",
        defaults={
            "name": "Demo help centre (Korean)",
            "allowed_origins": ["self"],
            "title": "Supportbot 도움말",
            "greeting": "안녕하세요! 제품에 관해 무엇이든 물어보세요.",
        },
    )
    return widget
