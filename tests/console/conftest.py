"""Fixtures of the console tests: staff users in each role and signed-in clients. The shared ones (widget,
knowledge base, LLM stand-ins, data directory) are in tests/conftest.py."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client

from supportbot import jobs
from supportbot.console.access import ADMIN_GROUP

PASSWORD = "console-pw-12345"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Failed sign-ins are counted in the cache: never let one test's failures throttle another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Real password hashing costs half a second per user; these tests are about who may do what."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("sam", password=PASSWORD, first_name="Sam", is_staff=True)


@pytest.fixture
def support_admin(db):
    user = get_user_model().objects.create_user("ada", password=PASSWORD, first_name="Ada", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=ADMIN_GROUP)[0])
    return user


@pytest.fixture
def customer(db):
    """Signed in, but not staff: the console is not theirs."""
    return get_user_model().objects.create_user("carol", password=PASSWORD)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent_client(agent) -> Client:
    return _client_for(agent)


@pytest.fixture
def support_admin_client(support_admin) -> Client:
    return _client_for(support_admin)


@pytest.fixture
def customer_client(customer) -> Client:
    return _client_for(customer)


@pytest.fixture
def run_jobs_inline(monkeypatch):
    """Run a started ingestion or export job at commit time, in the test's own thread and transaction."""
    monkeypatch.setattr(jobs, "background_start", lambda task, job_id, **_: task(job_id))
