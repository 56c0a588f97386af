from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "supportbot.chat"
    label = "chat"
    verbose_name = "Conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from supportbot import checks  # noqa: F401 (registers the deployment checks)
