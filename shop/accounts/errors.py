from shop.core.errors import DomainError, ErrorCode

__all__ = ["AccountError", "ErrorCode", "ThrottleUnavailable"]


class AccountError(DomainError):
    """An account rule refused the request (taken email, bad credentials...)."""


class ThrottleUnavailable(Exception):
    """The attempt counters (Redis) do not answer and THROTTLE_FAIL_OPEN is off."""
