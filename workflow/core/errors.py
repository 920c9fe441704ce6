"""Refusals a service raises; views turn them into a page message or the API error shape."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal's answer carries, page or API."""
        return {}


class Unauthenticated(ServiceError):
    status = 401
    code = "unauthenticated"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Invalid(ServiceError):
    """Input that fails validation; ``details`` maps each field to its message."""

    status = 422
    code = "invalid"


class GuardFailed(ServiceError):
    """One or more guards refused; ``details`` lists every reason ``{code, message}``.
    422, or 409 when a reason is a conflict (``workflow.core.rules.Reason.status``)."""

    status = 422
    code = "guard_failed"

    def __init__(self, message: str, details: Any = None, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, details, code)
        if status is not None:
            self.status = status


class Throttled(ServiceError):
    """Too many attempts: ``retry_after`` seconds until the next one is taken (the answer's
    ``Retry-After``; the message says it in words)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int, details: Any = None,
                 code: str | None = None) -> None:
        super().__init__(message, details=details or {"retry_after": retry_after}, code=code)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def wait_text(seconds: int) -> str:
    """A wait as people say it: '45秒', '3分钟' (rounded up), '1小时'."""
    if seconds < 60:
        return f"{max(1, seconds)}秒"
    minutes = -(-seconds // 60)
    return f"{minutes}分钟" if minutes < 60 else f"{-(-minutes // 60)}小时"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class UnsupportedMedia(ServiceError):
    status = 415
    code = "unsupported_media_type"
