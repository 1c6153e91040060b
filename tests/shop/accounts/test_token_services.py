"""Token services under concurrency and with Redis down."""

from collections import Counter

import pytest
from graphql_jwt.refresh_token.models import RefreshToken

from shop.accounts import services
from shop.accounts.errors import AccountError, ErrorCode
from tests.concurrency import race
from tests.factories import UserFactory

PASSWORD = "a long passphrase 1"


@pytest.mark.django_db(transaction=True)
def test_racing_refreshes_with_one_token_get_one_new_pair():
    user = UserFactory(email="racer@example.com", password=PASSWORD)
    pair = services.token_obtain(email=user.email, password=PASSWORD, client_ip=None)
    outcomes = race(
        [lambda: services.token_refresh(refresh_token=pair.refresh_token)] * 6
    )
    pairs = [o for o in outcomes if isinstance(o, services.TokenPair)]
    assert len(pairs) == 1
    assert outcomes.count(ErrorCode.INVALID_TOKEN) == 5
    assert RefreshToken.objects.filter(user=user, revoked__isnull=True).count() == 1


@pytest.mark.django_db
def test_sign_in_still_works_when_redis_is_down(settings):
    UserFactory(email="buyer@example.com", password=PASSWORD)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with pytest.raises(AccountError) as caught:
        services.token_obtain(
            email="buyer@example.com", password="wrong one 12", client_ip="192.0.2.1"
        )
    assert caught.value.code == ErrorCode.INVALID_CREDENTIALS
    pair = services.token_obtain(
        email="buyer@example.com", password=PASSWORD, client_ip="192.0.2.1"
    )
    assert pair.token


@pytest.mark.django_db(transaction=True)
def test_racing_registrations_of_one_email_make_one_account():
    outcomes = race(
        [lambda: services.user_register(email="same@example.com", password=PASSWORD)]
        * 4
    )
    assert Counter(type(o).__name__ for o in outcomes) == {"User": 1, "ErrorCode": 3}
    assert outcomes.count(ErrorCode.ALREADY_EXISTS) == 3
