from shop.core.errors import DomainError, ErrorCode
from shop.core.throttle import ThrottleUnavailable

__all__ = ["AccountError", "ErrorCode", "ThrottleUnavailable"]


class AccountError(DomainError):
    """An account rule refused the request (taken email, bad credentials...)."""
