"""Validators for identifiers, money and passwords; each raises ``FieldError`` in Chinese."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, ValidationError


class FieldError(ValueError):
    """A value a person typed is wrong; ``str(err)`` is the message to show beside it."""


def check_uscc(value: str) -> str:
    """统一社会信用代码: 18 characters with a check character (GB 32100-2015)."""
    try:
        return str(uscc.validate(value or ""))
    except InvalidChecksum as err:
        raise FieldError("统一社会信用代码校验位不正确，请核对后重新输入") from err
    except ValidationError as err:
        raise FieldError("统一社会信用代码应为18位数字或大写字母") from err


def check_id_number(value: str) -> str:
    """居民身份证号码: 18 characters, birth date and check digit (GB 11643-1999)."""
    try:
        return str(ric.validate(value or ""))
    except InvalidChecksum as err:
        raise FieldError("身份证号码校验位不正确，请核对后重新输入") from err
    except ValidationError as err:
        raise FieldError("身份证号码格式不正确（应为18位，含有效出生日期）") from err


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def check_phone(value: str) -> str:
    """A mainland mobile number or a landline with its area code."""
    compact = re.sub(r"[\s()（）]", "", value or "")
    if compact.startswith("+86"):
        compact = compact[3:]
    if _MOBILE.match(compact) or _LANDLINE.match(compact):
        return compact
    raise FieldError("电话号码格式不正确（手机号11位，座机需带区号）")


WAN = Decimal(10000)
CENT = Decimal("0.01")
MAX_YUAN = Decimal("999999999999.99")  # NUMERIC(14,2)


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def parse_wan(value: str | int | Decimal) -> Decimal:
    """An amount typed in 万元 with at most two decimals (whole hundreds of yuan) → yuan
    as Decimal. Amounts show in 万元 with two decimals everywhere, so a finer one is
    refused rather than stored with yuan that no page would show."""
    text = str(value).strip()
    if "," in text:
        if not _THOUSANDS.match(text):
            raise FieldError("金额应为数字，单位万元")
        text = text.replace(",", "")
    try:
        wan = Decimal(text)
        if not wan.is_finite():
            raise FieldError("金额应为数字，单位万元")
        if abs(wan.adjusted()) > 20:
            raise FieldError("金额超出允许范围")
        if wan < 0:
            raise FieldError("金额不能为负数")
        if wan != wan.quantize(CENT):
            raise FieldError("金额以万元为单位，最多保留两位小数（精确到百元）")
        yuan = wan * WAN
    except ArithmeticError as err:
        raise FieldError("金额应为数字，单位万元") from err
    if yuan > MAX_YUAN:
        raise FieldError("金额超出允许范围")
    return yuan.quantize(CENT) + Decimal("0.00")  # never "-0.00"


def format_wan(yuan: Decimal | int | None) -> str:
    """Yuan → '12.35' (万元, two decimals, rounded half up)."""
    if yuan is None:
        return ""
    return str((Decimal(yuan) / WAN).quantize(CENT, rounding=ROUND_HALF_UP))


def format_wan_exact(yuan: Decimal | int | str) -> str:
    """Yuan → 万元 without rounding: two decimals, more (up to six, i.e. the fen) only
    when the amount has them. 600000 → '60.00', 123456.78 → '12.345678'; what
    ``parse_wan`` reads back to the same yuan."""
    wan = (Decimal(str(yuan)) / WAN).quantize(Decimal("0.000001")) + 0  # never "-0"
    text = format(wan, "f").rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


# Line breaks of any kind (what str.splitlines splits on): refused in one-line text.
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def has_line_break(value: str) -> bool:
    return bool(_LINE_BREAK.search(value))


def check_line(value: str, label: str) -> str:
    """A one-line text (a title, a name): a line break is refused, never joined or kept
    (it would split a document's title, a CSV row or a log line)."""
    if has_line_break(value):
        raise FieldError(f"{label}不能换行，请写在一行内")
    return value


MIN_PASSWORD_LENGTH = 10


def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of public leaks that zxcvbn ships (its
    ``passwords`` frequency list, lower case), and ours: those of Chinese leaks that
    the list lacks. Loaded once, when this module is imported."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ours = (Path(__file__).parent / "common_passwords.txt").read_text().splitlines()
    return frozenset([*FREQUENCY_LISTS["passwords"],
                      *(line.strip() for line in ours
                        if line.strip() and not line.startswith("#"))])


COMMON_PASSWORDS = _common_passwords()


def check_password(password: str, username: str = "") -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FieldError(f"密码至少需要{MIN_PASSWORD_LENGTH}个字符")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise FieldError("密码过于常见或简单，请换一个不易被猜到的密码")
    if username and username.lower() in lowered:
        raise FieldError("密码不能包含用户名")
    return password


MAX_ID = 2**31 - 1


def parse_id(value: object) -> int | None:
    """A positive database id from JSON or a form (ASCII digits only), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 10:
            number = int(text)
            return number if 0 < number <= MAX_ID else None
    return None
