from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.core.models.base import AuditedMixin, Base, TimestampMixin, state_column


class OrgKind(enum.Enum):
    university = "university"
    enterprise = "enterprise"
    institute = "institute"
    government = "government"

    @property
    def label(self) -> str:
        return {"university": "高等院校", "enterprise": "企业", "institute": "科研院所",
                "government": "政府部门"}[self.value]


class Organization(AuditedMixin, TimestampMixin, Base):
    """An organisation (单位). Every change of its details or of its account for grants
    is in its own audit chain (who, when, old → new)."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    kind: Mapped[OrgKind] = mapped_column(state_column(OrgKind, "org_kind"))
    # Where grants are paid (收款账户).
    bank_name: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    bank_account: Mapped[str] = mapped_column(sa.String(40), default="", server_default="")

    # The recommending body (主管部门, an organisation of kind government) the organisation
    # is under: its recommenders see and recommend the organisation's applications.
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"),
                                                  index=True)
    parent: Mapped[Organization | None] = relationship(remote_side=[id], lazy="select")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name}>"
