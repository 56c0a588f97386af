from django.urls import path

from kb import views

app_name = "kb"
urlpatterns = [
    path("api/search", views.search_api, name="search"),
    # Before help/<path:slug>/, which would take it: the page that cites an upload instead of its server path.
    path("help/doc/<int:pk>/", views.document_page, name="document-page"),
    # `path`, not `slug`: help pages live under language folders (/help/ko/<slug>/) and slugs may be Unicode.
    path("help/<path:slug>/", views.help_page, name="help-page"),
]
