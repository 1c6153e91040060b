"""The custom user: email is the login, stored lower-cased, unique."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_email_is_the_login_and_is_normalised():
    User = get_user_model()
    user = User.objects.create_user("  Buyer@Example.COM ", "a long passphrase 1")
    assert user.email == "buyer@example.com"
    assert authenticate(username="BUYER@example.com", password="a long passphrase 1")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("buyer@EXAMPLE.com", "another passphrase 2")


def test_superuser_is_staff():
    user = get_user_model().objects.create_superuser("boss@example.com", "pw-123456!")
    assert user.is_staff
    assert user.is_superuser


def test_user_admin_lists_and_searches(db):
    User = get_user_model()
    boss = User.objects.create_superuser("boss@example.com", "pw-123456!")
    User.objects.create_user("findme@example.com", "pw-123456!")
    client = Client()
    client.force_login(boss)
    page = client.get(reverse("admin:accounts_user_changelist"), {"q": "findme"})
    assert page.status_code == 200
    assert "findme@example.com" in page.content.decode()
    assert client.get(reverse("admin:accounts_user_add")).status_code == 200
