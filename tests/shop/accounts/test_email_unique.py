"""The database refuses a second account whose email differs only in case, even
from code that skips the manager's lower-casing; register answers ALREADY_EXISTS."""

import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from shop.accounts import services
from shop.accounts.errors import AccountError, ErrorCode
from shop.accounts.models import User
from tests.concurrency import race

PASSWORD = "a long passphrase 1"
REGISTER = """mutation($email: String!, $password: String!) {
  register(email: $email, password: $password) {
    user { email } errors { field code message } } }"""
TAKEN = {
    "field": "email",
    "code": "ALREADY_EXISTS",
    "message": "An account with this email already exists.",
}


@pytest.mark.django_db
def test_the_database_refuses_an_email_differing_only_in_case():
    User.objects.create(email="a@x.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="A@x.com")
    assert list(User.objects.values_list("email", flat=True)) == ["a@x.com"]


@pytest.mark.django_db
def test_register_refuses_an_address_stored_in_another_case():
    User.objects.create(email="Legacy@Example.com")  # skipped the lower-casing
    with pytest.raises(AccountError) as refused:
        services.user_register(email="legacy@example.com", password=PASSWORD)
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("email", ErrorCode.ALREADY_EXISTS)
    ]
    assert User.objects.count() == 1


def register_over_http(email: str):
    response = Client().post(
        "/graphql/",
        json.dumps(
            {"query": REGISTER, "variables": {"email": email, "password": PASSWORD}}
        ),
        content_type="application/json",
    )
    return response.status_code, response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_racing_registrations_in_different_case_make_one_account(attempt):
    outcomes = race(
        [
            lambda: register_over_http("Race@Example.com"),
            lambda: register_over_http("race@EXAMPLE.com"),
        ]
    )
    assert [status for status, _ in outcomes] == [200, 200], outcomes
    payloads = sorted(
        (body["data"]["register"] for _, body in outcomes),
        key=lambda payload: len(payload["errors"]),
    )
    assert payloads == [
        {"user": {"email": "race@example.com"}, "errors": []},
        {"user": None, "errors": [TAKEN]},
    ]
    assert list(User.objects.values_list("email", flat=True)) == ["race@example.com"]
