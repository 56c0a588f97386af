from django.contrib import admin
from django.urls import include, path

from supportbot import views
from supportbot.chat import views as chat_views
from supportbot.chat import widget_strings
from supportbot.console.forms import AdminLoginForm
from supportbot.console.views.auth import signin_refusals_as_429

# Sign-in throttling (issue #13; supportbot/console/throttling.py): /admin/login/ counts failures with the
# console's sign-in, in the same counters, and answers a refusal with 429. Set before admin.site.urls is read,
# which is when the admin's login URL takes the site's login view.
admin.site.login_form = AdminLoginForm
admin.site.login = signin_refusals_as_429(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/widget/session", chat_views.widget_session, name="widget-session"),
    path("admin/", admin.site.urls),
    path("", include("kb.urls")),
    path("", include("feedback.urls")),
    path("console/", include("supportbot.console.urls")),
    # i18n: the console's language switch (POST /i18n/setlang/) and the widget's strings.
    path("i18n/", include("django.conf.urls.i18n")),
    path("ko/", views.home, {"language": "ko"}, name="home-ko"),
    path("api/widget/strings", widget_strings.widget_strings, name="widget-strings"),
]
