from django.urls import path

from supportbot.console.views import analytics, auth, conversations, knowledge, review, widgets

app_name = "console"
urlpatterns = [
    path("", conversations.inbox_page, name="inbox"),
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("jsi18n/", auth.javascript_catalog, name="jsi18n"),
    path("inbox.json", conversations.inbox_json, name="inbox-json"),
    path("conversations/<uuid:pk>/", conversations.conversation_page, name="conversation"),
    # Drafts from resolved conversations (issue #15): resolve a taken-over conversation, review its draft article.
    path("conversations/<uuid:pk>/resolve", conversations.conversation_resolve, name="conversation-resolve"),
    path("review/drafts/<int:draft_id>/", review.draft_item, name="draft"),
    path("review/drafts/<int:draft_id>/approve", review.draft_approve, name="draft-approve"),
    path("review/drafts/<int:draft_id>/reject", review.draft_reject, name="draft-reject"),
    path("review/", review.review_list, name="review"),
    path("review/<int:message_id>/", review.review_item, name="review-item"),
    path("review/<int:message_id>/good", review.mark_good, name="mark-good"),
    path("corrections/<int:correction_id>/approve", review.correction_approve, name="correction-approve"),
    path("corrections/<int:correction_id>/reject", review.correction_reject, name="correction-reject"),
    path("exports/", review.exports, name="exports"),
    path("analytics/", analytics.analytics_page, name="analytics"),
    path("analytics/entry", analytics.entry_create, name="entry-create"),
    path("kb/", knowledge.kb_page, name="kb"),
    path("kb/upload", knowledge.kb_upload, name="kb-upload"),
    path("kb/urls", knowledge.kb_urls, name="kb-urls"),
    path("kb/jobs.json", knowledge.jobs_json, name="kb-jobs"),
    path("kb/documents/<int:pk>/", knowledge.document_page, name="document"),
    path("kb/documents/<int:pk>/reingest", knowledge.document_reingest, name="document-reingest"),
    path("kb/documents/<int:pk>/delete", knowledge.document_delete, name="document-delete"),
    # Planted-instruction review (admins): release a flagged document, or keep it quarantined.
    path("kb/documents/<int:pk>/release", knowledge.document_release, name="document-release"),
    path(
        "kb/documents/<int:pk>/keep-quarantined", knowledge.document_quarantine_keep, name="document-keep-quarantined"
    ),
    path("kb/playground/", knowledge.playground, name="playground"),
    path("widgets/", widgets.widget_list, name="widgets"),
    path("widgets/new/", widgets.widget_edit, name="widget-new"),
    path("widgets/<int:pk>/", widgets.widget_edit, name="widget-edit"),
]
