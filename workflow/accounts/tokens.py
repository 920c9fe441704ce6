"""Bearer tokens on the API: ``token_required`` resolves the caller, never from a cookie
(a forged cross-site request carries no token)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from workflow.accounts import operations as accounts
from workflow.accounts.models import User
from workflow.core.errors import Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])


def current_api_user() -> User:
    user: User = g.api_user
    return user


def token_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
        g.api_user = accounts.user_for_token(token.strip())
        return view(*args, **kwargs)

    return cast(F, wrapped)
