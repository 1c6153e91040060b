"""Access tokens name a user by primary key, never by email.

django-graphql-jwt puts the username (here the email) in the payload and looks the
user up by it, so a token outlived its account: once the user was deleted and
someone registered the same address, the old token signed in as the newcomer. These
handlers (GRAPHQL_JWT in settings) put the user's id in the standard ``sub`` claim
and look the user up by that id, which is never reused. A token without ``sub``
(issued before this change) is refused.
"""

from graphql_jwt.utils import jwt_payload as default_jwt_payload

from shop.accounts.models import User

SUBJECT = "sub"
_MAX_ID_DIGITS = 18  # a bigint has 19; a longer "id" cannot name a row


def jwt_payload(user: User, context=None) -> dict:
    """The library's payload (expiry, issue time...) with ``sub`` instead of the
    email."""
    payload = default_jwt_payload(user, context)
    payload.pop(User.USERNAME_FIELD, None)
    payload[SUBJECT] = str(user.pk)
    return payload


def jwt_payload_user_id(payload: dict) -> str | None:
    """The user id a decoded payload names, if any."""
    subject = payload.get(SUBJECT)
    return subject if isinstance(subject, str) else None


def user_by_jwt_subject(subject: str) -> User | None:
    """The user whose id is ``subject``; None if it names nobody."""
    if not (subject.isascii() and subject.isdigit()) or len(subject) > _MAX_ID_DIGITS:
        return None
    return User.objects.filter(pk=int(subject)).first()
