"""The notification lists, as ``workflow.web.listing`` shows and exports them: a
person's inbox (their own in-app messages) and the delivery log of e-mail and SMS (for
those who keep the messages)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.core.listing import Column, Field, Filter, ListSpec, labelled
from workflow.notify.models import DeliveryState, Notification
from workflow.permissions import message_keeper

N = Notification
CHANNELS = {"email": "邮件", "sms": "短信", "inapp": "站内消息"}
CATEGORIES = {"notice": "通知", "reminder": "提醒", "decision": "决定", "credential": "账户安全"}


def own_messages(user: Any) -> sa.Select[Any]:
    return sa.select(N).where(N.user_id == user.id, N.channel == "inapp")


def sent_messages(user: Any) -> sa.Select[Any]:
    query = sa.select(N).where(N.channel != "inapp")
    return query if message_keeper(user) else query.where(sa.false())


INBOX = ListSpec(
    name="inbox", title="消息", model=N, visible=own_messages,
    columns=(
        Column("at", "时间", (N.created_at,), desc_first=True),
        Column("title", "消息", (N.title,)),
        Column("read", "状态", (N.read_at.is_(None),)),
    ),
    search=(N.title, N.body), search_hint="标题或内容",
    filters=(Filter("read", "状态", [("unread", "未读"), ("read", "已读")],
                    lambda v: N.read_at.is_(None) if v == "unread" else N.read_at.is_not(None)),),
    export=(
        Field("时间", lambda n: n.created_at, "datetime", width=18),
        Field("标题", lambda n: n.title, width=36),
        Field("内容", lambda n: n.body, width=60),
        Field("状态", lambda n: "已读" if n.read_at else "未读", width=8),
        Field("阅读时间", lambda n: n.read_at, "datetime", width=18),
    ),
)

LOG = ListSpec(
    name="notifications", title="通知发送记录", model=N, visible=sent_messages,
    columns=(
        Column("at", "时间", (N.created_at,), desc_first=True),
        Column("address", "收件人", (N.address,)),
        Column("channel", "渠道", (N.channel,)),
        Column("category", "类别", (N.category,)),
        Column("title", "标题", (N.title,)),
        Column("state", "状态", (N.state,)),
        Column("attempts", "尝试", (N.attempts,), num=True, desc_first=True),
    ),
    search=(N.address, N.title, N.last_error), search_hint="收件人、标题或错误信息",
    filters=(
        Filter("channel", "渠道", [("email", "邮件"), ("sms", "短信")],
               lambda v: N.channel == v),
        Filter("state", "状态", labelled(list(DeliveryState)),
               lambda v: N.state == DeliveryState(v)),
        Filter("category", "类别", list(CATEGORIES.items()),
               lambda v: N.category == v),
    ),
    export=(
        Field("时间", lambda n: n.created_at, "datetime", width=18),
        Field("收件人", lambda n: n.address or "", width=26),
        Field("渠道", lambda n: CHANNELS.get(n.channel, n.channel), width=8),
        Field("类别", lambda n: CATEGORIES.get(n.category, "通知"), width=8),
        Field("标题", lambda n: n.title, width=36),
        Field("状态", lambda n: n.state.label, width=10),
        Field("尝试次数", lambda n: n.attempts, "int", width=8),
        Field("最后错误", lambda n: n.last_error or "", width=40),
        Field("发送时间", lambda n: n.sent_at, "datetime", width=18),
    ),
)
