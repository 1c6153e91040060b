"""The one Stripe client, built from settings.

- ``STRIPE_SECRET_KEY``: without it (embedded mode only: production refuses to start)
  every call answers PAYMENT_ERROR naming the variable to set.
- ``STRIPE_API_BASE``: Stripe's API, or stripe-mock / a local fake in tests.
- ``STRIPE_MAX_NETWORK_RETRIES`` (2): the library retries connection errors, 409s
  and 5xx answers. That is safe only because every create call carries an
  idempotency key (a retried POST returns the first result, never a second
  session), and bounded because a web request waits for it.
- ``STRIPE_TIMEOUT_SECONDS`` (10): per try; the library's own default is 80 s,
  far longer than a storefront should hang.
"""

import functools

import requests
import stripe
import urllib3
from django.conf import settings

from shop.payments.errors import ErrorCode, PaymentError

NOT_CONFIGURED = (
    "Payments are not configured: set STRIPE_SECRET_KEY (a test key sk_test_... "
    "from https://dashboard.stripe.com/test/apikeys) in .env or the environment."
)


def stripe_client() -> stripe.StripeClient:
    """The process's Stripe client; PAYMENT_ERROR if no secret key is set."""
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentError(ErrorCode.PAYMENT_ERROR, NOT_CONFIGURED)
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_MAX_NETWORK_RETRIES,
        settings.STRIPE_TIMEOUT_SECONDS,
    )


@functools.cache
def _client(
    secret_key: str, api_base: str, retries: int, timeout: float
) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base.rstrip("/")},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def never_reached_stripe(error: stripe.StripeError) -> bool:
    """True when the request surely did not arrive (the connection was refused or
    the name did not resolve), so Stripe created nothing. A timeout after
    sending, or a 5xx, may have created something: False."""
    if not isinstance(error, stripe.APIConnectionError):
        return False
    cause = error.__cause__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(cause, requests.exceptions.ConnectionError) or not cause.args:
        return False
    # requests wraps urllib3's MaxRetryError, whose reason is the socket's failure.
    reason = getattr(cause.args[0], "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def stripe_answered(error: stripe.StripeError) -> bool:
    """True when Stripe answered with a refusal (4xx): nothing was created."""
    status = getattr(error, "http_status", None)
    return status is not None and 400 <= status < 500 and status != 409


def stripe_message(error: stripe.StripeError) -> str:
    """What Stripe said, for a person."""
    if isinstance(error, stripe.APIConnectionError):
        return "Stripe could not be reached; nothing was charged. Try again shortly."
    message = getattr(error, "user_message", None) or str(error) or "Stripe refused."
    return f"Stripe: {message}"
