from shop.core.errors import DomainError, ErrorCode

__all__ = ["AccountError", "ErrorCode"]


class AccountError(DomainError):
    """An account rule refused the request (taken email, bad credentials...)."""
