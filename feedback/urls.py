from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("api/feedback", views.feedback_api, name="api"),
    path("feedback/analytics.json", views.analytics_json, name="analytics"),
    path("feedback/exports/<int:job_id>/download", views.export_download, name="export-download"),
    path("help/faq/<int:correction_id>/", views.faq_page, name="faq-page"),
]
