"""Every password change signs the user out everywhere: the admin's password form,
manage.py changepassword, set_password() and save() anywhere. Saving anything
else, or re-hashing the password at sign-in, keeps the sessions."""

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from graphql_jwt.refresh_token.models import RefreshToken
from graphql_jwt.shortcuts import create_refresh_token

from shop.accounts import services
from shop.accounts.errors import ErrorCode
from shop.accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "another passphrase 2"


@pytest.fixture
def buyer():
    return UserFactory(email="buyer@example.com", password=PASSWORD)


@pytest.fixture
def sessions(buyer) -> list[services.TokenPair]:
    return [
        services.token_obtain(email=buyer.email, password=PASSWORD, client_ip=None)
        for _ in range(2)
    ]


def active_tokens(user) -> int:
    return RefreshToken.objects.filter(user=user, revoked__isnull=True).count()


def assert_signed_out_everywhere(user, sessions) -> None:
    assert active_tokens(user) == 0
    for session in sessions:
        with pytest.raises(services.AccountError) as refused:
            services.token_refresh(refresh_token=session.refresh_token)
        assert refused.value.code == ErrorCode.INVALID_TOKEN


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("boss@example.com", "boss passphrase 3")
    client = Client()
    assert client.login(username="boss@example.com", password="boss passphrase 3")
    return client


def test_a_password_reset_in_the_admin_signs_the_user_out(
    admin_client, buyer, sessions
):
    url = reverse("admin:auth_user_password_change", args=[buyer.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:accounts_user_change", args=[buyer.pk]
    )
    buyer.refresh_from_db()
    assert buyer.check_password(NEW_PASSWORD)
    assert_signed_out_everywhere(buyer, sessions)


def test_disabling_password_sign_in_in_the_admin_signs_the_user_out(
    admin_client, buyer, sessions
):
    url = reverse("admin:auth_user_password_change", args=[buyer.pk])
    response = admin_client.post(
        url, {"usable_password": "false", "unset-password": "1"}
    )
    assert response.status_code == 302
    buyer.refresh_from_db()
    assert not buyer.has_usable_password()
    assert_signed_out_everywhere(buyer, sessions)


def test_a_refused_admin_password_form_revokes_nothing(admin_client, buyer, sessions):
    url = reverse("admin:auth_user_password_change", args=[buyer.pk])
    response = admin_client.post(
        url, {"usable_password": "true", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200  # the form again, with the validators' errors
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)
    assert active_tokens(buyer) == 2


def test_changepassword_signs_the_user_out(monkeypatch, buyer, sessions):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", "buyer@example.com", stdout=None)
    buyer.refresh_from_db()
    assert buyer.check_password(NEW_PASSWORD)
    assert_signed_out_everywhere(buyer, sessions)


@pytest.mark.parametrize("update_fields", [None, ["password"]])
def test_set_password_and_save_anywhere_signs_the_user_out(
    buyer, sessions, update_fields
):
    user = User.objects.get(pk=buyer.pk)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=update_fields)
    assert_signed_out_everywhere(buyer, sessions)


def test_saving_anything_else_keeps_the_sessions(buyer, sessions):
    buyer.first_name = "Ada"
    buyer.save()
    buyer.set_password(NEW_PASSWORD)
    buyer.save(update_fields=["first_name"])  # the new password is not saved
    assert active_tokens(buyer) == 2
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)


def test_a_new_account_and_a_sign_in_that_rehashes_keep_the_sessions(buyer, sessions):
    # an older hasher's hash is upgraded (and saved) when the password is checked
    User.objects.filter(pk=buyer.pk).update(
        password=make_password(PASSWORD, hasher="pbkdf2_sha1")
    )
    services.token_obtain(email=buyer.email, password=PASSWORD, client_ip=None)
    buyer.refresh_from_db()
    assert buyer.password.startswith("pbkdf2_sha256$")
    assert active_tokens(buyer) == 3
    UserFactory(email="newcomer@example.com", password=PASSWORD)
    User.objects.create_user("another@example.com", PASSWORD)
    assert active_tokens(buyer) == 3


def test_an_account_created_without_a_password_keeps_its_sessions_on_later_saves():
    user = User(email="no.password@example.com")
    user.set_unusable_password()
    user.save()
    create_refresh_token(user)
    user.first_name = "Ada"
    user.save()
    assert active_tokens(user) == 1
