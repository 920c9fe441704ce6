"""Bearer tokens on the API: ``token_required`` resolves the caller, never from a cookie
(a forged cross-site request carries no token). Tokens are kept server-side, hashed
(``workflow/accounts/sessions.py``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from workflow.accounts import sessions
from workflow.accounts.models import ApiToken, User
from workflow.core.errors import Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])


def current_api_user() -> User:
    user: User = g.api_user
    return user


def current_api_token() -> ApiToken:
    """The row of the token the request came with."""
    token: ApiToken = g.api_token
    return token


def token_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
        g.api_user, g.api_token = sessions.token_user(
            token.strip()[:200], writer=request.method not in ("GET", "HEAD", "OPTIONS"))
        return view(*args, **kwargs)

    return cast(F, wrapped)
