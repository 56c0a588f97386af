from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("api/feedback", views.feedback_api, name="api"),
    # CSAT (issue #15): the widget's end-of-conversation survey
    path("api/csat", views.csat_api, name="csat"),
    path("feedback/analytics.json", views.analytics_json, name="analytics"),
    path("feedback/exports/<int:job_id>/download", views.export_download, name="export-download"),
    # An approved correction's page, /help/faq/<id>/, is served by kb's help pages (kb/urls.py), like any document
    # whose front matter gives a /help/ URL: one view, so quarantine and language apply to FAQ pages too.
]
