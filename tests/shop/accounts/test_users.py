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


def test_refresh_tokens_in_the_admin_searchable_and_revocable(db):
    from graphql_jwt.refresh_token.models import RefreshToken

    from shop.accounts import services

    User = get_user_model()
    boss = User.objects.create_superuser("boss@example.com", "pw-123456!")
    buyer = User.objects.create_user("buyer@example.com", "a long passphrase 1")
    services.token_obtain(
        email="buyer@example.com", password="a long passphrase 1", client_ip=None
    )
    services.token_obtain(
        email="buyer@example.com", password="a long passphrase 1", client_ip=None
    )
    client = Client()
    client.force_login(boss)
    url = reverse("admin:refresh_token_refreshtoken_changelist")
    page = client.get(url, {"q": "buyer@"})
    assert page.status_code == 200
    assert page.content.decode().count("buyer@example.com") >= 2

    token = RefreshToken.objects.first()
    response = client.post(url, {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked is not None
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1

    users_url = reverse("admin:accounts_user_changelist")
    response = client.post(
        users_url, {"action": "sign_out_everywhere", "_selected_action": [buyer.pk]}
    )
    assert response.status_code == 302
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
