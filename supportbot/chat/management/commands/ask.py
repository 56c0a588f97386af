from __future__ import annotations

import asyncio
import json

from django.core.management.base import BaseCommand, CommandError

from supportbot.chat.ask import question_ask
from supportbot.chat.services import ChatError, widget_ensure_demo


class Command(BaseCommand):
    help = "Ask one question through the visitor's turn the chat runs (without rate limits or token budget)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("question")
        parser.add_argument("--widget", default="demo", help="Widget key (default: demo).")
        parser.add_argument(
            "--conversation", default="", help="Ask in this open conversation of the command line's visitor."
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, question: str, widget: str, conversation: str, json: bool, **options) -> None:
        if widget == "demo":
            widget_ensure_demo()
        try:
            result = asyncio.run(question_ask(text=question, widget_key=widget, conversation_id=conversation))
        except ChatError as exc:
            raise CommandError(exc.detail) from exc
        if json:
            self.stdout.write(_dumps(result))
            return
        self.stdout.write(result["answer"])
        for citation in result["citations"]:
            self.stdout.write(f"  [{citation['n']}] {citation['title']} — {citation['url']}")
        self.stdout.write(f"confidence {result['confidence']:.2f} ({result['confidence_label']})")


def _dumps(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False)
