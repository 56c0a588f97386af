from django.urls import path

from kb import views

app_name = "kb"
urlpatterns = [
    path("api/search", views.search_api, name="search"),
    # `path`, not `slug`: help pages live under language folders (/help/ko/<slug>/) and slugs may be Unicode.
    path("help/<path:slug>/", views.help_page, name="help-page"),
]
