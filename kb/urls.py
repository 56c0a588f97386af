from django.urls import path

from kb import views

app_name = "kb"
urlpatterns = [
    path("api/search", views.search_api, name="search"),
    path("help/<slug:slug>/", views.help_page, name="help-page"),
]
