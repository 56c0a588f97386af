from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from kb import services
from kb.management.commands.ingest import run_with_progress, summary
from supportbot.chat.demo_widgets import demo_widgets_ensure

DEMO = Path(__file__).resolve().parents[2] / "demo"
DEMO_DOCS = DEMO / "docs"
# The same help centre in Korean, served at /help/ko/<slug>/ and listed on the Korean demo page (/ko/).
DEMO_DOCS_KO = DEMO / "docs-ko"


class Command(BaseCommand):
    help = (
        "First-run set-up: ingest the demo knowledge base (English and Korean) and make sure a staff login exists "
        "(printed)."
    )

    def handle(self, *args, **options) -> None:
        job = services.job_create(targets=[str(DEMO_DOCS), str(DEMO_DOCS_KO)], prune=True)
        self.stdout.write(summary(run_with_progress(job, quiet=False)))
        demo_widgets_ensure()  # the chat's part: the demo pages' widgets
        username, password = _staff_login()
        self.stdout.write(
            self.style.SUCCESS(f"Staff login: {username} / {password}  (http://127.0.0.1:{_port()}/admin/)")
        )


def _staff_login() -> tuple[str, str]:
    """One admin account for a laptop install; its password is kept in the data directory, readable by root only."""
    password_file = settings.DATA_DIR / "admin_password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    user, created = get_user_model().objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created or not user.check_password(password):
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
    return user.username, password


def _port() -> str:
    import os

    return os.environ.get("PORT", "8000")
