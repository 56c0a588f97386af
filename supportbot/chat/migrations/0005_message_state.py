from django.db import migrations, models

# Replies left empty by the answering before bot messages had a state (an exception, a cancelled consumer): they
# become failed, with the apology and human offer that recovery stores now (in English: their language was not
# kept). Not answered again: they may be months old, and a sweep would flood the agents' inbox with them.
LEGACY_APOLOGY = (
    "Sorry — I'm having trouble answering right now. Nothing you wrote is lost. "
    "Would you like to talk to a human? Use the “Talk to a human” button."
)


def empty_replies_fail(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    Message.objects.filter(role="bot", text="").update(
        state="failed", text=LEGACY_APOLOGY, escalation_offered=True, confidence=0.0, confidence_label="low"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_widget_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="state",
            field=models.CharField(
                choices=[("pending", "Pending"), ("streaming", "Streaming"), ("done", "Done"), ("failed", "Failed")],
                default="done",
                max_length=9,
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("state__in", ["pending", "streaming"])),
                fields=["claimed_at"],
                name="chat_message_unfinished",
            ),
        ),
        migrations.RunPython(empty_replies_fail, migrations.RunPython.noop),
    ]
