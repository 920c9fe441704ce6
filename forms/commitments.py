"""The texts an applicant signs: the 包干制 commitment letter with the negative list, and
the 揭榜挂帅 pledge. A signature records the fingerprint of the text that was shown."""

from __future__ import annotations

import hashlib

COMMITMENT_TITLE = "科研诚信与经费使用承诺书"
COMMITMENT_TEXT = """本人作为项目负责人，郑重承诺：
一、申报材料真实、准确、完整，不存在抄袭、剽窃、伪造、篡改等科研失信行为；
二、项目经费实行包干制，全部用于与本项目研究相关的支出，不挪作他用；
三、严格遵守经费使用负面清单，不发生清单所列任何支出；
四、自觉接受主管部门、财政、审计等部门的监督检查，按要求报告经费使用情况；
五、如违反上述承诺，愿承担相应责任，接受追回资金、记入科研诚信记录等处理。"""

NEGATIVE_LIST = (
    "购置与项目研究无关的设备、车辆、房产",
    "支付各种罚款、捐款、赞助、投资",
    "偿还债务或用于个人消费、家庭支出",
    "列支应由个人负担的通讯、交通、餐饮等费用",
    "以虚假票据、虚假合同套取资金",
    "向关联单位或个人违规转拨经费",
    "发放与项目无关人员的劳务费、绩效",
    "其他国家法律法规和财务制度明令禁止的支出",
)

PLEDGE_TITLE = "揭榜挂帅军令状"
PLEDGE_TEXT = """本团队自愿揭榜，郑重立下军令状：
一、按榜单要求完成全部攻关指标，按里程碑计划推进；
二、里程碑未按期通过验收的，接受暂停拨款、调整或终止项目的处理；
三、项目失败且存在主观过错的，退回已拨付资金，并接受科研诚信处理；
四、如实报告进展，接受发榜方和主管部门的全过程监督。"""


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def commitment_fingerprint() -> str:
    return fingerprint(COMMITMENT_TEXT + "\n" + "\n".join(NEGATIVE_LIST))


def pledge_fingerprint() -> str:
    return fingerprint(PLEDGE_TEXT)
