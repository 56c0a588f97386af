"""Staff for the browser tests: console users created on the live server's database, and their sign-in."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.live_server import LiveServer

PASSWORD = "browser-staff-pw-12345"
_CREATE = """
from django.contrib.auth.models import Group, User
user, _ = User.objects.get_or_create(username={username!r}, defaults={{"first_name": {first_name!r}, "is_staff": True}})
user.set_password({password!r}); user.save()
if {admin!r}:
    user.groups.add(Group.objects.get_or_create(name="Support admins")[0])
"""


def staff_create(server: LiveServer, username: str, *, first_name: str = "", admin: bool = False) -> None:
    """An agent (with `admin`, a support admin) who signs in with PASSWORD."""
    script = _CREATE.format(username=username, first_name=first_name, password=PASSWORD, admin=admin)
    server.manage("shell", "-c", script)


def sign_in(browser: Browser, server: LiveServer, username: str) -> Page:
    """A fresh browser context signed in to the console: the console sends a stranger to its sign-in page."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(server.url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/console/")
    return page
