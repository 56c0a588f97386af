from django.contrib import admin
from django.urls import include, path

from supportbot import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("kb.urls")),
    path("", include("feedback.urls")),
    path("console/", include("supportbot.console.urls")),
]
