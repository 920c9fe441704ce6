"""Call-specific application forms: typed field definitions, their checks, and the data checks.

A call's application form is a JSON list of field definitions (plain dicts)::

    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 2000}

Common keys: ``name`` (``[a-z][a-z0-9_]{0,39}``, unique in the form), ``label`` (the text a
person reads), ``type``, ``required`` (bool, default False), ``help`` (optional text).
Type-specific keys:

========== ===============================================================================
type       options
========== ===============================================================================
text       ``max`` characters (default 200)
longtext   ``max`` characters (default 5000), ``min`` characters
integer    ``min``, ``max``
money      ``min``, ``max`` in 万元; the value is typed in 万元 and cleaned to yuan, a string
           with two decimals (``"12.5"`` → ``"125000.00"``)
date       ``min``, ``max`` as ``YYYY-MM-DD``; the value is ``YYYY-MM-DD``
choice     ``options``: ``[{"value": str, "label": str}, ...]``; the value is one option value
multichoice ``options`` as above, ``max_selected``; the value is a list of option values,
           cleaned to the options' order without repeats
persons    ``min_rows``, ``max_rows`` (default 30); rows ``{name, id_number, org, role,
           title}``; ``name``, ``id_number`` and ``org`` must be filled in, ``role`` and
           ``title`` may be left empty; blank rows are ignored
org        no options; ``{"name": str, "uscc": str}``
file       ``multiple`` (bool), ``max_files`` (only with ``multiple``); the value is an
           attachment id (64 hex characters, sha256) or, with ``multiple``, a list of them
========== ===============================================================================

Error keys are field names, ``name.sub`` for the parts of an ``org`` (``unit.uscc``) and
``name[i].col`` for table cells, where ``i`` is the **0-based** index of the row in the list
that was sent (so it addresses the input directly: ``team[1].id_number`` is the second row).
Messages number rows for people, **1-based**: ``"第2行：身份证号码校验位不正确…"``.

``clean_data`` holds the valid values of the fields ``data`` had; a field sent empty (``""``,
``[]``, ``None``, blank rows only) is ``None`` there, so merging a save into stored data clears
it; a field not sent is absent. A field is never both in ``clean_data`` and in the errors.
Cleaned money is in yuan: to put cleaned data back into a form, or to validate stored cleaned
data again (e.g. before submission), go through :func:`to_input` first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Final

from forms.validators import (
    FieldError,
    check_id_number,
    check_uscc,
    format_wan,
    has_line_break,
    parse_wan,
)

__all__ = [
    "FIELD_ROLES", "FIELD_TYPES", "OPTION_KEYS", "PERSON_COLUMNS", "TYPE_NAMES", "SchemaError",
    "required_missing", "schema_fingerprint", "to_input", "validate", "validate_schema",
]

FieldDef = Mapping[str, Any]

FIELD_TYPES: Final = (
    "text", "longtext", "integer", "money", "date", "choice", "multichoice", "persons", "org",
    "file",
)
_TYPE_NAMES: Final = {
    "text": "单行文本", "longtext": "多行文本", "integer": "整数", "money": "金额",
    "date": "日期", "choice": "单选", "multichoice": "多选", "persons": "人员表",
    "org": "单位", "file": "附件",
}
TYPE_NAMES: Final = _TYPE_NAMES  # each type as officers know it
_COMMON_KEYS: Final = frozenset({"name", "label", "type", "required", "help"})
_OPTION_KEYS: Final[dict[str, frozenset[str]]] = {  # (OPTION_KEYS below)
    "text": frozenset({"max"}),
    "longtext": frozenset({"max", "min"}),
    "integer": frozenset({"min", "max"}),
    "money": frozenset({"min", "max"}),
    "date": frozenset({"min", "max"}),
    "choice": frozenset({"options"}),
    "multichoice": frozenset({"options", "max_selected"}),
    "persons": frozenset({"min_rows", "max_rows"}),
    "org": frozenset(),
    "file": frozenset({"multiple", "max_files"}),
}

OPTION_KEYS: Final = _OPTION_KEYS  # the settings each type takes besides the common ones
#: Fields the rest of kjflow reads by their name, and what for: name -> (the types such a
#: field may have, what the call builder calls it, whether every form should have one).
FIELD_ROLES: Final[dict[str, tuple[tuple[str, ...], str, bool]]] = {
    "summary": (("text", "longtext"), "项目摘要（一题多报查重、专家匹配）", True),
    "amount": (("money",), "申请经费（评审排名的资助线）", True),
    "keywords": (("text", "multichoice"), "关键词（专家匹配）", False),
    "discipline": (("text", "choice", "multichoice"), "学科（专家匹配）", False),
}
TEXT_MAX_DEFAULT: Final = 200
TEXT_MAX_LIMIT: Final = 1000
LONGTEXT_MAX_DEFAULT: Final = 5000
LONGTEXT_MAX_LIMIT: Final = 100_000
PERSONS_MAX_DEFAULT: Final = 30
PERSONS_MAX_LIMIT: Final = 500
FILES_MAX_LIMIT: Final = 100
INTEGER_LIMIT: Final = 10**15  # beyond this a JSON number loses precision in browsers
LABEL_MAX: Final = 100
HELP_MAX: Final = 1000
OPTION_MAX: Final = 200

#: Columns of a ``persons`` row: (label, must be filled in, max characters).
PERSON_COLUMNS: Final[dict[str, tuple[str, bool, int]]] = {
    "name": ("姓名", True, 50),
    "id_number": ("身份证号码", True, 18),
    "org": ("工作单位", True, 100),
    "role": ("项目分工", False, 100),
    "title": ("职称", False, 50),
}
_ORG_NAME_MAX: Final = 100

_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INT_RE: Final = re.compile(r"[+-]?[0-9]{1,16}", re.ASCII)
# Commas only as thousands separators: "1,5" is someone's decimal comma, not 15.
_BAD_COMMAS: Final = re.compile(r"(?![+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$).*,", re.ASCII)
_SHA256_RE: Final = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
# Control characters (PostgreSQL cannot even store U+0000 in text or jsonb) and lone
# surrogates (not encodable as UTF-8). Tab and line breaks are allowed in long text only.
_BAD_CHARS_TEXT: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_BAD_CHARS_LONG: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_TRAILING_NOTE: Final = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")
_MONEY_TEXT_MAX: Final = 40
_YUAN_RE: Final = re.compile(r"[0-9]{1,12}\.[0-9]{2}", re.ASCII)  # what validate() stores
_WAN: Final = Decimal(10000)
_ZERO_YUAN: Final = Decimal("0.00")
_FORM_KEY: Final = "_form"


class SchemaError(ValueError):
    """A form definition is itself invalid; ``errors`` are the Chinese messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("；".join(errors))
        self.errors = errors


# ---- small helpers -----------------------------------------------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_empty(value: object) -> bool:
    """None, blank text, and lists/dicts holding only empty things are empty (0 is not)."""
    stack = [value]  # not recursive: deeply nested JSON must not raise RecursionError
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, str):
            if item.strip():
                return False
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            return False
    return True


def _blank_row(row: object) -> bool:
    """A team row with nothing in its columns (other keys do not count)."""
    if isinstance(row, dict):
        return all(_is_empty(row.get(col)) for col in PERSON_COLUMNS)
    return _is_empty(row)


# Types whose value is one text or number: only None and blank text are empty there; a
# list or an object, however empty, is a wrong value (refused), not a cleared field.
_SCALAR_TYPES: Final = frozenset({"text", "longtext", "integer", "money", "date", "choice"})


def _field_empty(ftype: object, value: object) -> bool:
    """Whether a field's value counts as not filled in, judged on the parts the type reads."""
    if isinstance(ftype, str) and ftype in _SCALAR_TYPES:
        return value is None or (isinstance(value, str) and not value.strip())
    if ftype == "org" and isinstance(value, dict):
        return _is_empty(value.get("name")) and _is_empty(value.get("uscc"))
    if ftype == "persons" and isinstance(value, list):
        return all(_blank_row(row) for row in value)
    return _is_empty(value)


def _short(label: str) -> str:
    """'申请经费（万元）' → '申请经费': messages read better without the trailing note."""
    short = _TRAILING_NOTE.sub("", label)
    return short or label


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _wan_text(yuan: Decimal) -> str:
    """Yuan → the exact amount in 万元 without exponent or trailing zeros: 125000.00 → '12.5'."""
    wan = (yuan / _WAN).normalize()
    text = format(wan, "f")
    return "0" if wan == 0 else text


def _to_yuan(value: object) -> Decimal:
    """An amount in 万元 (text or number) → yuan, or ``FieldError`` with a Chinese message."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise FieldError("金额应为数字，单位万元")
    try:
        text = value.strip() if isinstance(value, str) else str(value)
    except ValueError as err:  # an int too long to print
        raise FieldError("金额超出允许范围") from err
    for unit in ("万元", "万"):
        if text.endswith(unit):
            text = text[: -len(unit)].rstrip()
            break
    if not text or len(text) > _MONEY_TEXT_MAX or _BAD_COMMAS.match(text):
        raise FieldError("金额应为数字，单位万元")
    try:
        yuan = parse_wan(text)
    except FieldError:
        raise
    except (ArithmeticError, ValueError) as err:  # decimal overflow / precision on huge input
        raise FieldError("金额超出允许范围") from err
    return _ZERO_YUAN if yuan == 0 else yuan


def _field_ref(index: int, fld: object) -> str:
    """A field as the officer finds it: its place and title (never its key: the call
    builder makes the keys, and no page shows them)."""
    if isinstance(fld, Mapping):
        label = fld.get("label")
        if isinstance(label, str) and label.strip():
            return f"第{index}项「{label.strip()}」"
    return f"第{index}项"


# ---- the form definition -----------------------------------------------------------------

class _UnknownKey(str):
    """A problem that is only a setting this module does not know: :func:`validate` ignores
    it (an old stored form keeps working), :func:`validate_schema` reports it (likely a typo)."""

    __slots__ = ()


def validate_schema(fields: object) -> list[str]:
    """Everything wrong with a form definition, as Chinese messages for the officer editing it.

    An empty list means the definition is good. Settings that a field type does not know
    (``"maxx"``) are reported too. Never raises.
    """
    return [str(problem) for problem in _schema_problems(fields)]


def _schema_problems(fields: object) -> list[str]:
    if not isinstance(fields, list | tuple):
        return ["表单定义应为字段列表"]
    errors: list[str] = []
    seen: dict[str, int] = {}
    for index, fld in enumerate(fields, start=1):
        ref = _field_ref(index, fld)
        if not isinstance(fld, Mapping):
            errors.append(f"{ref}：字段定义格式不正确")
            continue
        name = fld.get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"{ref}：请填写字段名")
        elif not _NAME_RE.fullmatch(name):
            errors.append(f"{ref}：字段名“{name[:50]}”不合规范（以小写字母开头，只含小写字母、"
                          "数字和下划线，最长40个字符）")
        elif name in seen:
            errors.append(f"{ref}：字段名“{name}”与第{seen[name]}项重复")
        else:
            seen[name] = index
        label = fld.get("label")
        if not isinstance(label, str) or not label.strip():
            errors.append(f"{ref}：请填写字段标题")
        elif len(label) > LABEL_MAX:
            errors.append(f"{ref}：字段标题不能超过{LABEL_MAX}字")
        elif _BAD_CHARS_TEXT.search(label):
            errors.append(f"{ref}：字段标题含有无法识别的控制字符")
        if "required" in fld and not isinstance(fld["required"], bool):
            errors.append(f"{ref}：“是否必填”应为是或否")
        help_text = fld.get("help")
        if help_text is not None and (not isinstance(help_text, str) or len(help_text) > HELP_MAX
                                      or _BAD_CHARS_LONG.search(help_text)):
            errors.append(f"{ref}：填写说明应为不超过{HELP_MAX}字的文本")
        ftype = fld.get("type")
        if not isinstance(ftype, str) or ftype not in _OPTION_KEYS:
            allowed = "、".join(f"{t}（{_TYPE_NAMES[t]}）" for t in FIELD_TYPES)
            if ftype is None or ftype == "":
                errors.append(f"{ref}：请选择字段类型，可选：{allowed}")
            else:
                shown = ftype[:30] if isinstance(ftype, str) else "（非文本）"
                errors.append(f"{ref}：未知的字段类型“{shown}”，可选：{allowed}")
            continue
        unknown = sorted(str(k) for k in fld if k not in _COMMON_KEYS | _OPTION_KEYS[ftype])
        if unknown:
            errors.append(_UnknownKey(f"{ref}：{_TYPE_NAMES[ftype]}字段不支持设置项"
                                      + "、".join(f"“{k[:30]}”" for k in unknown)))
        errors.extend(type(msg)(f"{ref}：{msg}") for msg in _OPTION_CHECKS[ftype](fld))
    return errors


def _check_count(fld: FieldDef, key: str, what: str, *, lowest: int, highest: int
                 ) -> tuple[list[str], int | None]:
    if key not in fld:
        return [], None
    value = fld[key]
    if not _is_int(value) or not lowest <= value <= highest:
        return [f"{what}应为{lowest}到{highest}之间的整数"], None
    return [], int(value)


def _opts_text(fld: FieldDef) -> list[str]:
    return _check_count(fld, "max", "最大字数", lowest=1, highest=TEXT_MAX_LIMIT)[0]


def _opts_longtext(fld: FieldDef) -> list[str]:
    errors, high = _check_count(fld, "max", "最大字数", lowest=1, highest=LONGTEXT_MAX_LIMIT)
    more, low = _check_count(fld, "min", "最少字数", lowest=0, highest=LONGTEXT_MAX_LIMIT)
    errors += more
    high = LONGTEXT_MAX_DEFAULT if high is None and "max" not in fld else high
    if low is not None and high is not None and low > high:
        errors.append(f"最少字数（{low}）不能大于最大字数（{high}）")
    return errors


def _opts_integer(fld: FieldDef) -> list[str]:
    errors: list[str] = []
    for key, what in (("min", "最小值"), ("max", "最大值")):
        if key in fld and (not _is_int(fld[key]) or abs(fld[key]) > INTEGER_LIMIT):
            errors.append(f"{what}应为整数")
    if not errors and _is_int(fld.get("min")) and _is_int(fld.get("max")) \
            and fld["min"] > fld["max"]:
        errors.append(f"最小值（{fld['min']}）不能大于最大值（{fld['max']}）")
    return errors


def _opts_money(fld: FieldDef) -> list[str]:
    errors: list[str] = []
    bounds: dict[str, Decimal] = {}
    for key, what in (("min", "最低金额"), ("max", "最高金额")):
        if key in fld:
            try:
                bounds[key] = _to_yuan(fld[key])
            except FieldError as err:
                errors.append(f"{what}（万元）不正确：{err}")
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        errors.append(f"最低金额（{_wan_text(bounds['min'])}万元）不能大于最高金额"
                      f"（{_wan_text(bounds['max'])}万元）")
    return errors


def _opts_date(fld: FieldDef) -> list[str]:
    errors: list[str] = []
    bounds: dict[str, date] = {}
    for key, what in (("min", "最早日期"), ("max", "最晚日期")):
        if key in fld:
            parsed = _parse_date(fld[key])
            if parsed is None:
                errors.append(f"{what}应为有效日期，格式YYYY-MM-DD（如2024-03-01）")
            else:
                bounds[key] = parsed
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        errors.append(f"最早日期（{bounds['min']}）不能晚于最晚日期（{bounds['max']}）")
    return errors


def _opts_choice(fld: FieldDef) -> list[str]:
    options = fld.get("options")
    if not isinstance(options, list) or not options:
        return ["请设置选项（至少一项，每项包含 value 和 label）"]
    errors: list[str] = []
    seen: set[str] = set()
    for number, opt in enumerate(options, start=1):
        if not isinstance(opt, Mapping):
            errors.append(f"第{number}个选项格式不正确，应包含 value 和 label")
            continue
        value, label = opt.get("value"), opt.get("label")
        if not isinstance(value, str) or not value.strip() or len(value) > OPTION_MAX \
                or _BAD_CHARS_TEXT.search(value):
            errors.append(f"第{number}个选项的值应为不超过{OPTION_MAX}字的非空文本")
        elif value != value.strip():
            errors.append(f"第{number}个选项的值“{value.strip()}”前后不能有空格")
        elif value in seen:
            errors.append(f"第{number}个选项的值“{value}”重复")
        else:
            seen.add(value)
        if not isinstance(label, str) or not label.strip() or len(label) > OPTION_MAX \
                or _BAD_CHARS_TEXT.search(label):
            errors.append(f"第{number}个选项的显示文字应为不超过{OPTION_MAX}字的非空文本")
        extra = sorted(str(k) for k in opt if k not in ("value", "label"))
        if extra:
            errors.append(_UnknownKey(f"第{number}个选项不支持设置项"
                                      + "、".join(f"“{k[:30]}”" for k in extra)))
    return errors


def _opts_multichoice(fld: FieldDef) -> list[str]:
    errors = _opts_choice(fld)
    options = fld.get("options")
    count = len(options) if isinstance(options, list) else 0
    errors += _check_count(fld, "max_selected", "最多可选项数", lowest=1,
                           highest=max(count, 1))[0]
    return errors


def _opts_persons(fld: FieldDef) -> list[str]:
    errors, low = _check_count(fld, "min_rows", "最少人数", lowest=0, highest=PERSONS_MAX_LIMIT)
    more, high = _check_count(fld, "max_rows", "最多人数", lowest=1, highest=PERSONS_MAX_LIMIT)
    errors += more
    high = PERSONS_MAX_DEFAULT if high is None and "max_rows" not in fld else high
    if low is not None and high is not None and low > high:
        errors.append(f"最少人数（{low}）不能大于最多人数（{high}）")
    return errors


def _opts_org(fld: FieldDef) -> list[str]:
    return []


def _opts_file(fld: FieldDef) -> list[str]:
    errors: list[str] = []
    multiple = fld.get("multiple", False)
    if not isinstance(multiple, bool):
        errors.append("“允许多个文件”应为是或否")
    if "max_files" in fld:
        if multiple is not True:
            errors.append("只有允许多个文件时才能设置最多文件数")
        else:
            errors += _check_count(fld, "max_files", "最多文件数", lowest=1,
                                   highest=FILES_MAX_LIMIT)[0]
    return errors


_OPTION_CHECKS: Final[dict[str, Callable[[FieldDef], list[str]]]] = {
    "text": _opts_text, "longtext": _opts_longtext, "integer": _opts_integer,
    "money": _opts_money, "date": _opts_date, "choice": _opts_choice,
    "multichoice": _opts_multichoice, "persons": _opts_persons, "org": _opts_org,
    "file": _opts_file,
}


# ---- the data ----------------------------------------------------------------------------

class _Check:
    """Checks one field's value; collects errors under the field's keys."""

    def __init__(self, fld: FieldDef, *, partial: bool) -> None:
        self.fld = fld
        self.name: str = fld["name"]
        self.label: str = _short(str(fld["label"]).strip())
        self.partial = partial
        self.errors: dict[str, str] = {}

    def fail(self, message: str, key: str | None = None) -> None:
        self.errors.setdefault(key or self.name, message)

    # Each returns the cleaned value; it is kept only when ``self.errors`` stays empty.

    def v_text(self, value: Any, *, long: bool = False) -> Any:
        if not isinstance(value, str):
            self.fail(f"{self.label}应为文字")
            return None
        if long:
            text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        elif has_line_break(value):  # a page's one-line input never sends one
            self.fail(f"{self.label}为单行文本，不能换行，请写在一行内")
            return None
        else:  # a tab pasted into a title: a space instead
            text = value.replace("\t", " ").strip()
        if (_BAD_CHARS_LONG if long else _BAD_CHARS_TEXT).search(text):
            self.fail(f"{self.label}含有无法识别的控制字符，请删除后重新输入")
            return None
        default = LONGTEXT_MAX_DEFAULT if long else TEXT_MAX_DEFAULT
        high: int = self.fld.get("max", default)
        low: int = self.fld.get("min", 0) if long else 0
        if len(text) > high:
            self.fail(f"{self.label}不能超过{high}字（当前{len(text)}字）")
        elif len(text) < low and not self.partial:
            self.fail(f"{self.label}不能少于{low}字（当前{len(text)}字）")
        return text

    def v_longtext(self, value: Any) -> Any:
        return self.v_text(value, long=True)

    def v_integer(self, value: Any) -> Any:
        number: int | None = None
        if _is_int(value):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            compact = value.strip()
            if not _BAD_COMMAS.match(compact):
                compact = compact.replace(",", "")
                if _INT_RE.fullmatch(compact):
                    number = int(compact)
        if number is None:
            self.fail(f"{self.label}应为整数")
            return None
        if abs(number) > INTEGER_LIMIT:
            self.fail(f"{self.label}超出允许范围")
        elif "min" in self.fld and number < self.fld["min"]:
            self.fail(f"{self.label}不能小于{self.fld['min']}")
        elif "max" in self.fld and number > self.fld["max"]:
            self.fail(f"{self.label}不能大于{self.fld['max']}")
        return number

    def v_money(self, value: Any) -> Any:
        try:
            yuan = _to_yuan(value)
        except FieldError as err:
            self.fail(f"{self.label}：{err}")
            return None
        if "min" in self.fld and yuan < _to_yuan(self.fld["min"]):
            self.fail(f"{self.label}不能低于{_wan_text(_to_yuan(self.fld['min']))}万元")
        elif "max" in self.fld and yuan > _to_yuan(self.fld["max"]):
            self.fail(f"{self.label}不能超过{_wan_text(_to_yuan(self.fld['max']))}万元")
        return format(yuan, "f")

    def v_date(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
        parsed = _parse_date(value)
        if parsed is None:
            if isinstance(value, str) and _DATE_RE.fullmatch(value):
                self.fail(f"{self.label}：日期{value}不存在")
            else:
                self.fail(f"{self.label}应为日期，格式YYYY-MM-DD（如2024-03-01）")
            return None
        if "min" in self.fld and parsed < date.fromisoformat(self.fld["min"]):
            self.fail(f"{self.label}不能早于{self.fld['min']}")
        elif "max" in self.fld and parsed > date.fromisoformat(self.fld["max"]):
            self.fail(f"{self.label}不能晚于{self.fld['max']}")
        return parsed.isoformat()

    def _option_values(self) -> list[str]:
        return [str(opt["value"]) for opt in self.fld["options"]]

    def v_choice(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() in self._option_values():
            return value.strip()
        self.fail(f"{self.label}：请从给出的选项中选择一项")
        return None

    def v_multichoice(self, value: Any) -> Any:
        allowed = self._option_values()
        if not isinstance(value, list):
            self.fail(f"{self.label}应为选项列表")
            return None
        chosen = [v.strip() if isinstance(v, str) else v for v in value if not _is_empty(v)]
        bad = [v for v in chosen if not isinstance(v, str) or v not in allowed]
        if bad:
            shown = f"“{bad[0][:30]}”" if isinstance(bad[0], str) else "所选内容"
            self.fail(f"{self.label}：{shown}不是可选的选项")
            return None
        picked = [v for v in allowed if v in chosen]
        most = self.fld.get("max_selected")
        if most is not None and len(picked) > most:
            self.fail(f"{self.label}最多选择{most}项（当前{len(picked)}项）")
        return picked

    def v_persons(self, value: Any) -> Any:
        if not isinstance(value, list):
            self.fail(f"{self.label}应为人员列表（每行包含姓名、身份证号码、工作单位等）")
            return None
        rows: list[dict[str, str]] = []
        first_seen: dict[str, int] = {}
        for index, row in enumerate(value):
            people_row = index + 1  # what a person sees: 第1行 is index 0
            at = f"{self.label}第{people_row}行"
            if _blank_row(row):
                continue  # a blank row the page sent along
            if not isinstance(row, dict):
                self.fail(f"{at}格式不正确", f"{self.name}[{index}]")
                continue
            clean_row: dict[str, str] = {}
            for col, (col_label, must, most) in PERSON_COLUMNS.items():
                key = f"{self.name}[{index}].{col}"
                cell = row.get(col)
                if _is_empty(cell):
                    if must and not self.partial:
                        self.fail(f"{at}：请填写{col_label}", key)
                    clean_row[col] = ""
                    continue
                if not isinstance(cell, str):
                    self.fail(f"{at}：{col_label}应为文字", key)
                    continue
                text = cell.strip()
                if col == "id_number":
                    try:
                        text = check_id_number(text)
                    except FieldError as err:
                        self.fail(f"{at}：{err}", key)
                        continue
                    if text in first_seen:
                        self.fail(f"{at}：身份证号码与第{first_seen[text]}行重复", key)
                        continue
                    first_seen[text] = people_row
                elif _BAD_CHARS_TEXT.search(text):
                    self.fail(f"{at}：{col_label}含有无法识别的控制字符", key)
                    continue
                elif len(text) > most:
                    self.fail(f"{at}：{col_label}不能超过{most}字（当前{len(text)}字）", key)
                    continue
                clean_row[col] = text
            rows.append(clean_row)
        low = self.fld.get("min_rows", 0)
        high = self.fld.get("max_rows", PERSONS_MAX_DEFAULT)
        if len(rows) > high:
            self.fail(f"{self.label}最多填写{high}人（当前{len(rows)}人）")
        elif len(rows) < low and not self.partial:
            self.fail(f"{self.label}至少需要填写{low}人（当前{len(rows)}人）")
        return rows

    def v_org(self, value: Any) -> Any:
        if not isinstance(value, dict):
            self.fail(f"{self.label}应包含单位名称和统一社会信用代码")
            return None
        name, code = value.get("name"), value.get("uscc")
        out = {"name": "", "uscc": ""}
        if _is_empty(name):
            if not self.partial:
                self.fail(f"{self.label}：请填写单位名称", f"{self.name}.name")
        elif not isinstance(name, str):
            self.fail(f"{self.label}：单位名称应为文字", f"{self.name}.name")
        elif _BAD_CHARS_TEXT.search(name.strip()):
            self.fail(f"{self.label}：单位名称含有无法识别的控制字符", f"{self.name}.name")
        elif len(name.strip()) > _ORG_NAME_MAX:
            self.fail(f"{self.label}：单位名称不能超过{_ORG_NAME_MAX}字", f"{self.name}.name")
        else:
            out["name"] = name.strip()
        if _is_empty(code):
            if not self.partial:
                self.fail(f"{self.label}：请填写统一社会信用代码", f"{self.name}.uscc")
        elif not isinstance(code, str):
            self.fail(f"{self.label}：统一社会信用代码应为文字", f"{self.name}.uscc")
        else:
            try:
                out["uscc"] = check_uscc(code.strip())
            except FieldError as err:
                self.fail(f"{self.label}：{err}", f"{self.name}.uscc")
        return out

    def v_file(self, value: Any) -> Any:
        multiple = self.fld.get("multiple", False) is True
        items = value if isinstance(value, list) else [value]
        ids: list[str] = []
        for item in items:
            if _is_empty(item):
                continue
            if not isinstance(item, str) or not _SHA256_RE.fullmatch(item.strip()):
                self.fail(f"{self.label}：附件编号无效，请重新上传")
                return None
            if item.strip().lower() not in ids:
                ids.append(item.strip().lower())
        if not multiple:
            if len(ids) > 1:
                self.fail(f"{self.label}只能上传一个文件（当前{len(ids)}个）")
                return None
            return ids[0]
        most = self.fld.get("max_files")
        if most is not None and len(ids) > most:
            self.fail(f"{self.label}最多上传{most}个文件（当前{len(ids)}个）")
        return ids


_MISSING_VERB: Final = {"choice": "请选择", "multichoice": "请选择", "file": "请上传"}


def validate(fields: Sequence[FieldDef], data: object, *, partial: bool = False
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """Check an applicant's form data against the form definition.

    Returns ``(clean_data, errors)``. ``errors`` maps a field name (``org.uscc`` for a part,
    ``team[1].id_number`` for a table cell, 0-based row index) to a Chinese message.
    With ``partial=True`` (draft autosave) missing values - required fields, required cells,
    a table shorter than ``min_rows``, a text shorter than ``min`` - are not errors, but
    values that are there must be well-formed. Keys of ``data`` the form does not define are
    dropped; fields sent empty come back as ``None``; bad values are left out. A ``data``
    that is not an object is reported under the key ``"_form"``. Never raises for any JSON
    ``data``; raises :class:`SchemaError` when ``fields`` itself is not a valid definition
    (settings it does not know are ignored here; :func:`validate_schema` reports them).
    """
    problems = [p for p in _schema_problems(fields) if not isinstance(p, _UnknownKey)]
    if problems:
        raise SchemaError(problems)
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        errors[_FORM_KEY] = "申报书数据格式不正确，请刷新页面后重新填写"
        data = {}
    for fld in fields:
        check = _Check(fld, partial=partial)
        value = data.get(check.name)
        if _field_empty(fld["type"], value):
            if fld.get("required", False) and not partial:
                verb = _MISSING_VERB.get(fld["type"], "请填写")
                errors[check.name] = f"{verb}{check.label}"
            elif check.name in data:
                clean[check.name] = None  # sent empty: a merge into stored data clears it
            continue
        cleaned = getattr(check, "v_" + fld["type"])(value)
        if check.errors:
            errors.update(check.errors)
        else:
            clean[check.name] = cleaned
    return clean, errors


def required_missing(fields: Sequence[FieldDef], data: object) -> list[str]:
    """Labels of required fields with no value in ``data`` (raw or cleaned), in form order.

    Empty means absent, ``None``, blank text, or a list/dict holding only empty things (an
    empty team table, ``{"name": "", "uscc": ""}``). Whether the values are valid is
    :func:`validate`'s business. Never raises.
    """
    values: Mapping[Any, Any] = data if isinstance(data, dict) else {}
    out: list[str] = []
    for fld in fields if isinstance(fields, list | tuple) else []:
        if not isinstance(fld, Mapping) or fld.get("required") is not True:
            continue
        name = fld.get("name")
        value = values.get(name) if isinstance(name, str) else None
        if _field_empty(fld.get("type"), value):
            label = fld.get("label")
            out.append(label.strip() if isinstance(label, str) and label.strip() else str(name))
    return out


def to_input(fields: Sequence[FieldDef], clean: Mapping[str, Any]) -> dict[str, Any]:
    """Cleaned data → values as a person types them, e.g. to refill a form or to validate again.

    Only money differs: yuan ``"125000.00"`` becomes ``"12.5"`` (万元, exact). Thus
    ``validate(fields, to_input(fields, clean))[0] == clean``.
    """
    out: dict[str, Any] = dict(clean)
    for fld in fields:
        name = fld.get("name")
        value = out.get(name) if isinstance(name, str) else None
        if fld.get("type") == "money" and isinstance(value, str) and _YUAN_RE.fullmatch(value):
            out[str(name)] = _wan_text(Decimal(value))  # anything else was not from validate()
    return out


def schema_fingerprint(fields: object) -> str:
    """sha256 (hex) of the canonical JSON of a form definition: sorted keys, UTF-8, compact.

    Equal definitions give equal fingerprints whatever their key order; any edit changes it
    (including writing a default out, e.g. adding ``"required": false``).
    """
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def shown_values(fields: list[dict[str, Any]], data: dict[str, Any]) -> dict[str, str]:
    """The application's answers as a person reads them (money in 万元, choices by label)."""
    typed = to_input(fields, data)
    out: dict[str, str] = {}
    for f in fields:
        value = typed.get(f["name"])
        if value in (None, "", [], {}):
            out[f["name"]] = "（未填写）"
        elif f["type"] == "money":
            out[f["name"]] = f"{format_wan(Decimal(str(data[f['name']])))} 万元"
        elif f["type"] in ("choice", "multichoice"):
            labels = {o["value"]: o["label"] for o in f.get("options", [])}
            values = value if isinstance(value, list) else [value]
            out[f["name"]] = "、".join(labels.get(v, str(v)) for v in values)
        elif f["type"] == "persons":
            people = [p for p in value if isinstance(p, dict)]
            out[f["name"]] = "；".join(
                f"{p.get('name', '')}（{'，'.join(x for x in (p.get('org'), p.get('role')) if x)}）"
                for p in people)
        elif f["type"] == "org" and isinstance(value, dict):
            out[f["name"]] = f"{value.get('name', '')}（{value.get('uscc', '')}）"
        else:
            out[f["name"]] = str(value)
    return out
