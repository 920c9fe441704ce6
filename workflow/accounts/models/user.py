from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import ROLES
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)

if TYPE_CHECKING:
    from workflow.accounts.models.org import Organization

_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)


class User(AuditedMixin, TimestampMixin, Base):
    """A person who logs in. Their security events (password changed or reset, second
    factor enrolled or reset, signed out everywhere) form the row's audit chain
    (``workflow/accounts/trail.py``)."""

    __tablename__ = "user_account"
    __table_args__ = (
        # The application list's search by the applicant's name (``applying.lists``):
        # 150,000 names, read through their pieces on PostgreSQL (migration
        # 20261228_0001).
        sa.Index("ix_user_account_search_grams", sa.text("search_grams(VARIADIC ARRAY[name])"),
                 postgresql_using="gin").ddl_if(dialect="postgresql"),
        # The user list's search of logins and addresses (migration 20261229_0001).
        sa.Index("ix_user_account_login_search_grams",
                 sa.text("search_grams(VARIADIC ARRAY[username, email])"),
                 postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    id_number: Mapped[str | None] = mapped_column(sa.String(18), index=True)  # 身份证号
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Reminders by e-mail may be turned off; decisions are always sent.
    email_reminders: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by an administrator's reset (a temporary password): until the person chooses
    # a password of their own they can do nothing else.
    must_change_password: Mapped[bool] = mapped_column(default=False,
                                                       server_default=sa.false())

    organization: Mapped[Organization | None] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r.role for r in self.role_rows)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def add_role(self, role: str) -> None:
        if role not in ROLES:
            raise ValueError(role)
        if role not in self.roles:
            self.role_rows.append(UserRole(role=role))

    # Flask-Login protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (sa.CheckConstraint(f"role IN ({_ROLE_LIST})", name="role_known"),)

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(20), primary_key=True)


class ExpertProfile(Base):
    __tablename__ = "expert_profile"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str | None] = mapped_column(sa.String(50))  # 职称
    disciplines: Mapped[list[str]] = mapped_column(JSONType, default=list)  # 学科代码
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    load_cap: Mapped[int] = mapped_column(default=30)
    available: Mapped[bool] = mapped_column(default=True)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (sa.CheckConstraint("load_cap >= 0", name="load_cap_nonnegative"),)


class LoginAttempt(Base):
    """Every login attempt, for throttling and for the record."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    success: Mapped[bool]
    channel: Mapped[str] = mapped_column(sa.String(8), default="web")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
