"""Application form schemas (forms/schema.py): definitions, data checks, drafts, fingerprints.

Team-table error keys use the 0-based index of the row in the list sent (``team[1]`` is the
second row); the messages number rows 1-based for people (``第2行``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from forms.schema import (
    FIELD_TYPES,
    SchemaError,
    required_missing,
    schema_fingerprint,
    to_input,
    validate,
    validate_schema,
)

ID_1 = "362101198001010019"
ID_2 = "110101198001010010"
ID_BAD_CHECK = "362101198001010011"
USCC = "91360700MA35A0001P"
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4



def make_id(seq: int) -> str:
    """A valid 身份证号码 (Beijing Dongcheng, born 1980-01-01) with its check digit computed."""
    body = f"11010119800101{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


FORM: list[dict[str, Any]] = [
    {"name": "title_en", "label": "英文名称", "type": "text", "max": 20},
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True,
     "min": 10, "max": 2000, "help": "500字以内为宜"},
    {"name": "patents", "label": "发明专利数", "type": "integer", "min": 0, "max": 100},
    {"name": "amount", "label": "申请经费（万元）", "type": "money", "required": True,
     "min": "0.5", "max": 500},
    {"name": "start", "label": "开始日期", "type": "date", "min": "2024-01-01",
     "max": "2026-12-31"},
    {"name": "field", "label": "技术领域", "type": "choice", "required": True, "options": [
        {"value": "materials", "label": "新材料"}, {"value": "agri", "label": "现代农业"},
        {"value": "it", "label": "电子信息"}]},
    {"name": "tags", "label": "应用方向", "type": "multichoice", "max_selected": 2, "options": [
        {"value": "a", "label": "稀土"}, {"value": "b", "label": "脐橙"},
        {"value": "c", "label": "家具"}]},
    {"name": "team", "label": "项目团队", "type": "persons", "required": True, "min_rows": 1,
     "max_rows": 3},
    {"name": "unit", "label": "申报单位", "type": "org", "required": True},
    {"name": "plan", "label": "实施方案", "type": "file", "required": True},
    {"name": "extra", "label": "其他附件", "type": "file", "multiple": True, "max_files": 2},
]
FIELDS = {f["name"]: f for f in FORM}


def person(name: str = "张三", id_number: str = ID_1, **more: str) -> dict[str, str]:
    return {"name": name, "id_number": id_number, "org": "赣南科技大学", **more}


def full_row(name: str = "张三", id_number: str = ID_1, **more: str) -> dict[str, str]:
    return {"role": "", "title": "", **person(name, id_number), **more}


GOOD: dict[str, Any] = {
    "summary": "面向稀土永磁材料回收的关键技术研究。",
    "amount": "12.5",
    "field": "materials",
    "team": [person()],
    "unit": {"name": "赣南科技大学", "uscc": USCC},
    "plan": SHA_A,
}


def one(name: str, value: Any, *, partial: bool = False) -> tuple[dict[str, Any],
                                                                  dict[str, str]]:
    """Validate a single field of FORM on its own."""
    return validate([FIELDS[name]], {name: value}, partial=partial)


# ---- good values, per type -------------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "expected"), [
    ("title_en", "  Rare earth  ", "Rare earth"),
    ("title_en", "tab\tpasted", "tab pasted"),
    ("summary", "  第一段。\r\n第二段，含\t制表符。 ", "第一段。\n第二段，含\t制表符。"),
    ("patents", 3, 3),
    ("patents", "12", 12),
    ("patents", " +7 ", 7),
    ("patents", 7.0, 7),
    ("patents", 0, 0),
    ("amount", "12.5", "125000.00"),
    ("amount", 12.5, "125000.00"),
    ("amount", 3, "30000.00"),
    ("amount", "0.5", "5000.00"),
    ("amount", "500", "5000000.00"),
    ("amount", "12.5万元", "125000.00"),
    ("amount", Decimal("99.99"), "999900.00"),
    ("start", "2024-02-29", "2024-02-29"),
    ("start", " 2026-12-31 ", "2026-12-31"),
    ("field", "agri", "agri"),
    ("field", " agri ", "agri"),
    ("tags", ["b", "a", "b"], ["a", "b"]),
    ("tags", ["c", ""], ["c"]),
    ("team", [person(), {}, person("李四", ID_2, role="骨干", title="教授")],
     [full_row(), full_row("李四", ID_2, role="骨干", title="教授")]),
    ("team", [person(id_number=" 11010119800101007x ")],
     [full_row(id_number="11010119800101007X")]),
    ("unit", {"name": " 赣南科技大学 ", "uscc": " 91360700MA35A0001P ", "x": 1},
     {"name": "赣南科技大学", "uscc": USCC}),
    ("plan", SHA_A.upper(), SHA_A),
    ("plan", [SHA_B], SHA_B),
    ("extra", [SHA_A, SHA_B, SHA_A], [SHA_A, SHA_B]),
    ("extra", SHA_B, [SHA_B]),
])
def test_good_values_are_cleaned(name: str, value: Any, expected: Any) -> None:
    clean, errors = one(name, value)
    assert errors == {}
    assert clean == {name: expected}


# ---- bad values, per type: the key and a fragment of the Chinese message ---------------

@pytest.mark.parametrize(("name", "value", "key", "fragment"), [
    ("title_en", "x" * 21, "title_en", "英文名称不能超过20字（当前21字）"),
    ("title_en", {"zh": "x"}, "title_en", "英文名称应为文字"),
    ("title_en", 42, "title_en", "应为文字"),
    ("title_en", "a\x00b", "title_en", "控制字符"),
    ("title_en", "\ud800", "title_en", "控制字符"),
    # One-line text: a line break is refused, as a page's one-line input never sends one.
    ("title_en", "line\r\nbreak", "title_en", "英文名称为单行文本，不能换行"),
    ("title_en", "line\nbreak", "title_en", "不能换行"),
    ("title_en", "稀土\u2028永磁", "title_en", "不能换行"),
    # Not a text, however empty: refused, never saved as a cleared field.
    ("title_en", [[[[[]]]]], "title_en", "英文名称应为文字"),
    ("title_en", [], "title_en", "应为文字"),
    ("title_en", {}, "title_en", "应为文字"),
    ("summary", [[[]]], "summary", "项目摘要应为文字"),
    ("patents", [[]], "patents", "应为整数"),
    ("amount", [[[]]], "amount", "金额应为数字"),
    ("start", [[]], "start", "应为日期"),
    ("field", [[]], "field", "请从给出的选项中选择"),
    ("summary", "字" * 2150, "summary", "项目摘要不能超过2000字（当前2150字）"),
    ("summary", "太短", "summary", "项目摘要不能少于10字（当前2字）"),
    ("summary", ["列表"], "summary", "项目摘要应为文字"),
    ("patents", "三", "patents", "发明专利数应为整数"),
    ("patents", "1,0", "patents", "应为整数"),
    ("patents", "10,00", "patents", "应为整数"),
    ("patents", 2.5, "patents", "应为整数"),
    ("patents", True, "patents", "应为整数"),
    ("patents", float("nan"), "patents", "应为整数"),
    ("patents", -1, "patents", "发明专利数不能小于0"),
    ("patents", "101", "patents", "发明专利数不能大于100"),
    ("patents", 10**20, "patents", "超出允许范围"),
    ("patents", "9" * 5000, "patents", "应为整数"),
    ("amount", "abc", "amount", "申请经费：金额应为数字，单位万元"),
    ("amount", "1,5", "amount", "金额应为数字"),  # a decimal comma is not 15万元
    ("amount", "12,50.5", "amount", "金额应为数字"),
    ("amount", "-3", "amount", "金额不能为负数"),
    ("amount", "0.0000001", "amount", "最多保留两位小数"),
    ("amount", 0.1 + 0.2, "amount", "最多保留两位小数"),
    # More than two decimals in 万元 would be yuan no page shows (12.35 for 123456.78).
    ("amount", "12.345678", "amount", "申请经费：金额以万元为单位，最多保留两位小数（精确到百元）"),
    ("amount", "12.341", "amount", "最多保留两位小数"),
    ("amount", "0.4", "amount", "申请经费不能低于0.5万元"),
    ("amount", "500.01", "amount", "申请经费不能超过500万元"),
    ("amount", "1e100", "amount", "金额超出允许范围"),
    ("amount", "1e999999", "amount", "金额超出允许范围"),
    ("amount", 1e308, "amount", "金额超出允许范围"),
    ("amount", "NaN", "amount", "金额应为数字"),
    ("amount", float("inf"), "amount", "金额应为数字"),
    ("amount", True, "amount", "金额应为数字"),
    ("amount", {"wan": 1}, "amount", "金额应为数字"),
    ("start", "2024/03/01", "start", "开始日期应为日期，格式YYYY-MM-DD"),
    ("start", "20240301", "start", "格式YYYY-MM-DD"),
    ("start", "2024-02-30", "start", "开始日期：日期2024-02-30不存在"),
    ("start", "2023-12-31", "start", "开始日期不能早于2024-01-01"),
    ("start", "2027-01-01", "start", "开始日期不能晚于2026-12-31"),
    ("start", 20240301, "start", "应为日期"),
    ("field", "space", "field", "技术领域：请从给出的选项中选择一项"),
    ("field", ["agri"], "field", "请从给出的选项中选择"),
    ("tags", "a", "tags", "应用方向应为选项列表"),
    ("tags", ["a", "z"], "tags", "“z”不是可选的选项"),
    ("tags", [{"v": "a"}], "tags", "不是可选的选项"),
    ("tags", ["a", "b", "c"], "tags", "应用方向最多选择2项（当前3项）"),
    ("team", "张三", "team", "项目团队应为人员列表"),
    ("team", [person(), person("李四", ID_BAD_CHECK)], "team[1].id_number",
     "项目团队第2行：身份证号码校验位不正确"),
    ("team", [person(), person("李四", "110101198013010018")], "team[1].id_number",
     "第2行：身份证号码格式不正确"),
    ("team", [person(), person("李四", ID_1)], "team[1].id_number",
     "项目团队第2行：身份证号码与第1行重复"),
    ("team", [person(), "李四"], "team[1]", "项目团队第2行格式不正确"),
    ("team", [person(), {"name": "李四", "org": "某单位"}], "team[1].id_number",
     "第2行：请填写身份证号码"),
    ("team", [{"name": "", "id_number": ID_1, "org": "某单位"}], "team[0].name",
     "第1行：请填写姓名"),
    ("team", [person(title=5)], "team[0].title", "第1行：职称应为文字"),
    ("team", [person(org="单" * 101)], "team[0].org", "工作单位不能超过100字（当前101字）"),
    ("team", [person(f"成员{n}", make_id(n)) for n in range(4)], "team",
     "项目团队最多填写3人（当前4人）"),
    ("unit", "赣南科技大学", "unit", "申报单位应包含单位名称和统一社会信用代码"),
    ("unit", {"name": "赣南科技大学", "uscc": "91360700MA35A0001Q"}, "unit.uscc",
     "申报单位：统一社会信用代码校验位不正确"),
    ("unit", {"name": "赣南科技大学", "uscc": "123"}, "unit.uscc", "应为18位"),
    ("unit", {"name": "赣南科技大学"}, "unit.uscc", "请填写统一社会信用代码"),
    ("unit", {"uscc": USCC}, "unit.name", "申报单位：请填写单位名称"),
    ("unit", {"name": ["x"], "uscc": USCC}, "unit.name", "单位名称应为文字"),
    ("plan", "report.pdf", "plan", "实施方案：附件编号无效，请重新上传"),
    ("plan", "g" * 64, "plan", "附件编号无效"),
    ("plan", 12, "plan", "附件编号无效"),
    ("plan", [SHA_A, SHA_B], "plan", "实施方案只能上传一个文件（当前2个）"),
    ("extra", [SHA_A, SHA_B, "c" * 64], "extra", "其他附件最多上传2个文件（当前3个）"),
    ("extra", {"id": SHA_A}, "extra", "附件编号无效"),
])
def test_bad_values_are_explained(name: str, value: Any, key: str, fragment: str) -> None:
    clean, errors = one(name, value)
    assert fragment in errors.get(key, ""), errors
    assert name not in clean  # a bad value never reaches the cleaned data


@pytest.mark.parametrize(("typed", "expected"), [
    ("1,000", 1000), ("-12,345,678", -12345678), ("1,0", None), ("1,0000", None), (",1", None),
])
def test_integers_take_commas_only_as_thousands_separators(typed: str, expected: Any) -> None:
    form = [{"name": "n", "label": "人数", "type": "integer"}]
    clean, errors = validate(form, {"n": typed})
    assert clean.get("n") == expected
    assert bool(errors) == (expected is None)


@pytest.mark.parametrize(("name", "message"), [
    ("summary", "请填写项目摘要"), ("amount", "请填写申请经费"), ("field", "请选择技术领域"),
    ("team", "请填写项目团队"), ("unit", "请填写申报单位"), ("plan", "请上传实施方案"),
])
def test_required_fields_missing_are_named(name: str, message: str) -> None:
    _clean, errors = validate(FORM, {})
    assert errors[name] == message


@pytest.mark.parametrize("empty", [None, "", "   ", "\u3000", [], [""], {}, [None, {}]])
def test_empty_values_count_as_missing(empty: Any) -> None:
    names = ["team", "unit", "plan"]  # a list or an object, even empty, is theirs
    if empty is None or isinstance(empty, str):
        names += ["summary", "field"]  # one text: only blank text is empty
    for name in names:
        _clean, errors = one(name, empty)
        assert errors[name].startswith("请"), (name, empty, errors)


@pytest.mark.parametrize("value", [[], [""], {}, [None, {}], [[[[[[]]]]]]])
def test_a_list_or_object_in_a_one_value_field_is_refused_not_cleared(value: Any) -> None:
    for name in ("title_en", "summary", "patents", "amount", "start", "field"):
        clean, errors = one(name, value, partial=True)
        assert name not in clean, (name, value, clean)
        assert "应为" in errors[name] or "请从" in errors[name], (name, value, errors)


@pytest.mark.parametrize(("name", "empty"), [
    ("team", [{}, {"name": " ", "other": "不是表中的列"}]),
    ("unit", {"name": "", "uscc": " ", "other": "不是单位的字段"}),
])
def test_only_the_parts_a_type_reads_count_for_emptiness(name: str, empty: Any) -> None:
    assert one(name, empty)[1] == {name: f"请填写{FIELDS[name]['label']}"}
    assert one(name, empty, partial=True) == ({name: None}, {})


def test_a_complete_form_passes() -> None:
    clean, errors = validate(FORM, GOOD)
    assert errors == {}
    assert clean == {
        "summary": GOOD["summary"], "amount": "125000.00", "field": "materials",
        "team": [full_row()], "unit": {"name": "赣南科技大学", "uscc": USCC}, "plan": SHA_A,
    }


def test_unknown_keys_are_dropped_without_error() -> None:
    clean, errors = validate(FORM, {**GOOD, "hacker": "x", "Summary": 1, "team[0]": 2})
    assert errors == {}
    assert set(clean) == set(GOOD)


def test_optional_fields_sent_empty_come_back_as_none_so_a_merge_clears_them() -> None:
    clean, errors = validate(FORM, {**GOOD, "patents": "", "tags": [], "start": None})
    assert errors == {}
    assert clean["patents"] is None and clean["tags"] is None and clean["start"] is None
    assert "extra" not in clean  # not sent: absent


def test_every_error_is_reported_at_once() -> None:
    data = {**GOOD, "amount": "x", "start": "2024-02-30",
            "team": [person(), person("李四", ID_BAD_CHECK)]}
    del data["summary"]
    _clean, errors = validate(FORM, data)
    assert set(errors) == {"summary", "amount", "start", "team[1].id_number"}


@pytest.mark.parametrize("data", [None, [], "申报书", 3, [GOOD]])
def test_data_that_is_not_an_object_is_an_error_not_an_exception(data: Any) -> None:
    clean, errors = validate(FORM, data)
    assert clean == {}
    assert "格式不正确" in errors["_form"]
    assert errors["summary"] == "请填写项目摘要"


# ---- team table: row numbering -----------------------------------------------------------

def test_wrong_id_number_in_row_two_is_keyed_by_index_and_told_as_row_two() -> None:
    team = [person("张三", ID_1), person("李四", ID_BAD_CHECK), person("王五", ID_2)]
    clean, errors = validate(FORM, {**GOOD, "team": team})
    assert errors == {
        "team[1].id_number": "项目团队第2行：身份证号码校验位不正确，请核对后重新输入"}
    assert "team" not in clean


def test_blank_rows_are_skipped_but_rows_keep_their_position_in_keys() -> None:
    team = [person(), {"name": "", "id_number": ""}, person("李四", ID_1)]
    _clean, errors = one("team", team)
    assert errors == {"team[2].id_number": "项目团队第3行：身份证号码与第1行重复"}


def test_team_below_min_rows_is_refused_when_submitting() -> None:
    form = [{"name": "team", "label": "项目团队", "type": "persons", "min_rows": 2}]
    _clean, errors = validate(form, {"team": [person()]})
    assert errors == {"team": "项目团队至少需要填写2人（当前1人）"}
    clean, errors = validate(form, {"team": [person()]}, partial=True)
    assert errors == {} and clean == {"team": [full_row()]}


def test_team_has_thirty_rows_at_most_by_default() -> None:
    form = [{"name": "team", "label": "项目团队", "type": "persons"}]
    rows = [person(f"成员{n}", make_id(n)) for n in range(31)]
    _clean, errors = validate(form, {"team": rows[:31]})
    assert errors == {"team": "项目团队最多填写30人（当前31人）"}
    clean, errors = validate(form, {"team": rows[:30]})
    assert errors == {} and len(clean["team"]) == 30


# ---- drafts (partial=True) ---------------------------------------------------------------

def test_draft_may_leave_required_things_out() -> None:
    clean, errors = validate(FORM, {"summary": "短"}, partial=True)
    assert errors == {}  # required fields missing, summary shorter than min: still a draft
    assert clean == {"summary": "短"}


def test_draft_still_refuses_malformed_values_and_leaves_them_out() -> None:
    data = {"summary": "草稿", "amount": "十二万", "patents": "3",
            "team": [person(), {"name": "李四", "id_number": "3621"}]}
    clean, errors = validate(FORM, data, partial=True)
    assert set(errors) == {"amount", "team[1].id_number"}
    assert "金额应为数字" in errors["amount"]
    assert clean == {"summary": "草稿", "patents": 3}


def test_draft_keeps_half_filled_rows_and_organisations() -> None:
    data = {"team": [{"name": "李四"}], "unit": {"name": "赣南科技大学"}}
    clean, errors = validate(FORM, data, partial=True)
    assert errors == {}
    assert clean["team"] == [{"name": "李四", "id_number": "", "org": "", "role": "",
                              "title": ""}]
    assert clean["unit"] == {"name": "赣南科技大学", "uscc": ""}
    _clean, errors = validate(FORM, {**GOOD, **data})
    assert errors == {"team[0].id_number": "项目团队第1行：请填写身份证号码",
                      "team[0].org": "项目团队第1行：请填写工作单位",
                      "unit.uscc": "申报单位：请填写统一社会信用代码"}


def test_draft_still_enforces_maximums() -> None:
    _clean, errors = validate(FORM, {"summary": "字" * 2001, "tags": ["a", "b", "c"]},
                              partial=True)
    assert set(errors) == {"summary", "tags"}


# ---- money: Decimal all the way ----------------------------------------------------------

@pytest.mark.parametrize(("wan", "yuan"), [
    ("0.01", "100.00"), ("0.1", "1000.00"), ("0.3", "3000.00"), ("1.23", "12300.00"),
    ("99999999.99", "999999999900.00"), ("-0", "0.00"), ("0", "0.00"),
    ("1e2", "1000000.00"), ("123456.78", "1234567800.00"), ("12.340", "123400.00"),
    (" 1,234.56 ", "12345600.00"), ("1,000", "10000000.00"), ("12.5万元", "125000.00"),
])
def test_money_is_converted_exactly(wan: str, yuan: str) -> None:
    form = [{"name": "m", "label": "金额", "type": "money"}]
    clean, errors = validate(form, {"m": wan})
    assert errors == {}
    assert clean["m"] == yuan and isinstance(clean["m"], str)
    assert Decimal(clean["m"]) == Decimal(wan.strip().replace(",", "").removesuffix("万元")) * 10000


def test_money_sums_are_exact_where_floats_are_not() -> None:
    form = [{"name": f"m{i}", "label": "金额", "type": "money"} for i in range(3)]
    clean, _ = validate(form, {"m0": "0.1", "m1": "0.2", "m2": "0.3"})
    assert Decimal(clean["m0"]) + Decimal(clean["m1"]) == Decimal(clean["m2"])
    assert 0.1 + 0.2 != 0.3  # what this module must never rely on


def test_money_bounds_are_compared_in_decimal() -> None:
    form = [{"name": "m", "label": "经费", "type": "money", "min": "0.1", "max": "0.3"}]
    assert validate(form, {"m": "0.3"})[1] == {}
    assert validate(form, {"m": "0.1"})[1] == {}
    assert validate(form, {"m": "0.31"})[1] == {"m": "经费不能超过0.3万元"}


def test_money_above_the_column_is_refused() -> None:
    _clean, errors = one("amount", "100000000")
    assert "超出允许范围" in errors["amount"]
    _clean, errors = one("amount", 10**5000)  # too long even to print
    assert "超出允许范围" in errors["amount"]


def test_cleaned_money_goes_back_to_wan_for_the_form() -> None:
    clean, _ = validate(FORM, GOOD)
    back = to_input(FORM, clean)
    assert back["amount"] == "12.5"
    assert validate(FORM, back)[0] == clean
    assert to_input(FORM, {"amount": "0.01"})["amount"] == "0.000001"
    assert to_input(FORM, {"amount": "1000000.00"})["amount"] == "100"
    assert to_input(FORM, {"amount": "0.00"})["amount"] == "0"
    assert to_input(FORM, {"amount": "垃圾"})["amount"] == "垃圾"
    assert to_input(FORM, {"amount": "1e999999999"})["amount"] == "1e999999999"
    assert to_input(FORM, {"amount": None, "x": 1}) == {"amount": None, "x": 1}


def test_validating_stored_clean_data_directly_would_multiply_money() -> None:
    """Why callers must use to_input: clean money is yuan, the form takes 万元."""
    clean, _ = validate(FORM, GOOD)
    _again, errors = validate(FORM, clean)
    assert errors == {"amount": "申请经费不能超过500万元"}  # 125000 万元!
    assert validate(FORM, to_input(FORM, clean)) == (clean, {})


# ---- required_missing --------------------------------------------------------------------

def test_required_missing_lists_full_labels_in_form_order() -> None:
    assert required_missing(FORM, {}) == [
        "项目摘要", "申请经费（万元）", "技术领域", "项目团队", "申报单位", "实施方案"]
    data = {**GOOD, "summary": "  ", "team": [{}], "unit": {"name": "", "uscc": ""}}
    assert required_missing(FORM, data) == ["项目摘要", "项目团队", "申报单位"]
    assert required_missing(FORM, GOOD) == []


def test_required_missing_works_on_cleaned_data_and_on_junk() -> None:
    clean, _ = validate(FORM, GOOD)
    assert required_missing(FORM, clean) == []
    assert required_missing(FORM, None) == required_missing(FORM, {})
    assert required_missing(FORM, {"amount": 0}) == [
        "项目摘要", "技术领域", "项目团队", "申报单位", "实施方案"]  # zero is a value


# ---- schema_fingerprint ------------------------------------------------------------------

def test_fingerprint_is_sha256_of_canonical_json() -> None:
    fields = [{"name": "summary", "label": "项目摘要", "type": "longtext"}]
    canonical = '[{"label":"项目摘要","name":"summary","type":"longtext"}]'
    assert schema_fingerprint(fields) == hashlib.sha256(canonical.encode()).hexdigest()


def test_fingerprint_ignores_key_order_and_sees_every_edit() -> None:
    a = [{"name": "x", "label": "甲", "type": "text", "max": 10}]
    b = [{"max": 10, "type": "text", "label": "甲", "name": "x"}]
    assert schema_fingerprint(a) == schema_fingerprint(b)
    assert schema_fingerprint(a) != schema_fingerprint([{**a[0], "label": "乙"}])
    assert schema_fingerprint(a) != schema_fingerprint([{**a[0], "max": 11}])
    assert schema_fingerprint(a) != schema_fingerprint(a + a)
    assert len(schema_fingerprint([])) == 64


# ---- the definition itself ---------------------------------------------------------------

def test_the_sample_form_and_the_demo_form_are_valid() -> None:
    assert validate_schema(FORM) == []
    assert validate_schema([
        {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True,
         "max": 2000},
        {"name": "amount", "label": "申请经费（万元）", "type": "money", "required": True},
    ]) == []
    assert validate_schema([]) == []
    assert set(FIELD_TYPES) == {f["type"] for f in FORM}


def _field(**kw: Any) -> dict[str, Any]:
    return {"name": "f", "label": "字段", "type": "text", **kw}


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"name": "f"}, "表单定义应为字段列表"),
    (["f"], "第1项：字段定义格式不正确"),
    ([_field(name="")], "请填写字段名"),
    ([_field(name="Summary")], "字段名“Summary”不合规范"),
    ([_field(name="1st")], "不合规范"),
    ([_field(name="a" * 41)], "最长40个字符"),
    ([_field(name="ok\n")], "不合规范"),
    ([_field(), _field(label="另一个")], "第2项「另一个」：字段名“f”与第1项重复"),
    ([_field(label="")], "第1项：请填写字段标题"),
    ([_field(label=None)], "请填写字段标题"),
    ([_field(label="标" * 101)], "字段标题不能超过100字"),
    ([_field(type="textarea")], "未知的字段类型“textarea”"),
    ([_field(type=None)], "请选择字段类型"),
    ([_field(type=["text"])], "未知的字段类型"),
    ([_field(required="yes")], "“是否必填”应为是或否"),
    ([_field(help=3)], "填写说明应为不超过1000字的文本"),
    ([_field(maxx=3)], "单行文本字段不支持设置项“maxx”"),
    ([_field(options=[])], "不支持设置项“options”"),
    ([_field(max=0)], "最大字数应为1到1000之间的整数"),
    ([_field(max="200")], "最大字数应为"),
    ([_field(type="longtext", min=6000)], "最少字数（6000）不能大于最大字数（5000）"),
    ([_field(type="longtext", min=10, max=5)], "最少字数（10）不能大于最大字数（5）"),
    ([_field(type="longtext", min=-1)], "最少字数应为0到100000之间的整数"),
    ([_field(type="integer", min=5, max=1)], "最小值（5）不能大于最大值（1）"),
    ([_field(type="integer", min=1.5)], "最小值应为整数"),
    ([_field(type="integer", max=True)], "最大值应为整数"),
    ([_field(type="money", min="10", max="5")], "最低金额（10万元）不能大于最高金额（5万元）"),
    ([_field(type="money", max="很多")], "最高金额（万元）不正确：金额应为数字"),
    ([_field(type="money", min=-1)], "金额不能为负数"),
    ([_field(type="date", min="2024-02-30")], "最早日期应为有效日期"),
    ([_field(type="date", min="2025-01-01", max="2024-01-01")],
     "最早日期（2025-01-01）不能晚于最晚日期（2024-01-01）"),
    ([_field(type="choice")], "请设置选项"),
    ([_field(type="choice", options="a,b")], "请设置选项"),
    ([_field(type="choice", options=["a"])], "第1个选项格式不正确"),
    ([_field(type="choice", options=[{"value": "a"}])], "第1个选项的显示文字"),
    ([_field(type="choice", options=[{"label": "甲"}])], "第1个选项的值应为"),
    ([_field(type="choice", options=[{"value": 1, "label": "甲"}])], "第1个选项的值应为"),
    ([_field(type="choice", options=[{"value": "a", "label": "甲"},
                                     {"value": "a", "label": "乙"}])], "第2个选项的值“a”重复"),
    ([_field(type="choice", options=[{"value": "a ", "label": "甲"}])], "“a”前后不能有空格"),
    ([_field(type="multichoice", options=[{"value": "a", "label": "甲"}], max_selected=2)],
     "最多可选项数应为1到1之间的整数"),
    ([_field(type="persons", min_rows=5, max_rows=2)], "最少人数（5）不能大于最多人数（2）"),
    ([_field(type="persons", min_rows=31)], "最少人数（31）不能大于最多人数（30）"),
    ([_field(type="persons", max_rows=0)], "最多人数应为"),
    ([_field(type="org", max=3)], "单位字段不支持设置项“max”"),
    ([_field(type="file", multiple="yes")], "“允许多个文件”应为是或否"),
    ([_field(type="file", max_files=3)], "只有允许多个文件时才能设置最多文件数"),
    ([_field(type="file", multiple=True, max_files=0)], "最多文件数应为1到100之间的整数"),
])
def test_bad_definitions_are_explained(fields: Any, fragment: str) -> None:
    problems = validate_schema(fields)
    assert any(fragment in p for p in problems), problems


def test_all_definition_problems_are_listed_together() -> None:
    problems = validate_schema([
        {"name": "A", "type": "x"},
        {"name": "b", "label": "乙", "type": "choice", "options": []},
        {"name": "b", "label": "丙", "type": "integer", "min": 5, "max": 1},
    ])
    assert len(problems) == 6
    assert problems[0].startswith("第1项：")
    assert problems[-1] == "第3项「丙」：最小值（5）不能大于最大值（1）"


def test_validate_refuses_a_broken_definition_but_ignores_unknown_settings() -> None:
    with pytest.raises(SchemaError) as caught:
        validate([{"name": "a", "label": "甲", "type": "nope"}], {})
    assert "未知的字段类型" in caught.value.errors[0]
    # a setting this module does not know (an older editor's, or a typo) does not break
    # applications on a stored form; validate_schema reports it to the officer
    legacy = [{"name": "a", "label": "甲", "type": "text", "placeholder": "请输入"}]
    assert validate(legacy, {"a": "x"}) == ({"a": "x"}, {})
    assert validate_schema(legacy) == ["第1项「甲」：单行文本字段不支持设置项“placeholder”"]


# ---- no input makes it raise -------------------------------------------------------------

JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(st.characters(codec=None, categories=None), max_size=30))
json_values = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
TRICKY = st.sampled_from([
    "", " ", "\x00", "\ud800", "a\x00", "12.5", "-0", "1e100", "1e999999", "1e-999999",
    "NaN", "sNaN", "-Infinity", "12.5万元", "万元", "2024-02-29", "2023-02-29", "0000-01-01",
    "9999-12-31", "2024-1-1", SHA_A, SHA_A.upper(), "z" * 64, ID_1, ID_2, ID_BAD_CHECK,
    ID_1.lower() + " ", USCC, "materials", "a", "b", "9" * 400, 1e308, -1e308, float("nan"),
    float("inf"), -0.0, 10**30, -(10**30), True, False, None, [], {}, [None], [{}], [[]],
    [SHA_A, SHA_A], ["a", "a", "c"],
])
cells = json_values | TRICKY
ROW = st.fixed_dictionaries({}, optional={
    "name": cells, "id_number": cells, "org": cells, "role": cells, "title": cells,
    "other": cells})
STRUCTURED = (st.lists(ROW | cells, max_size=5)
              | st.fixed_dictionaries({}, optional={"name": cells, "uscc": cells, "x": cells}))
field_values = json_values | TRICKY | STRUCTURED
form_data = st.fixed_dictionaries({}, optional={f["name"]: field_values for f in FORM}
                                  | {"unknown": field_values})


def _assert_sane(clean: Any, errors: Any) -> None:
    assert isinstance(clean, dict) and isinstance(errors, dict)
    assert set(clean) <= set(FIELDS)
    for key, message in errors.items():
        assert isinstance(key, str) and isinstance(message, str) and message
    for name in clean:  # never both cleaned and in error
        assert not any(k == name or k.startswith((name + "[", name + "."))
                       for k in errors), (name, errors)
    # storable as it is (no NaN, no U+0000, no lone surrogate), and stable on a second pass
    text = json.dumps(clean, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert "\\u0000" not in text
    for name, value in clean.items():
        if FIELDS[name]["type"] == "money" and value is not None:
            assert Decimal(value).as_tuple().exponent == -2 and Decimal(value) >= 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=form_data, partial=st.booleans())
def test_no_json_value_makes_validate_raise(data: dict[str, Any], partial: bool) -> None:
    clean, errors = validate(FORM, data, partial=partial)
    _assert_sane(clean, errors)
    assert validate(FORM, to_input(FORM, clean), partial=partial)[0] == clean
    assert isinstance(required_missing(FORM, data), list)


@settings(max_examples=200, deadline=None)
@given(ftype=st.sampled_from(FIELD_TYPES), value=field_values, partial=st.booleans())
def test_no_json_value_makes_any_single_type_raise(ftype: str, value: Any,
                                                   partial: bool) -> None:
    field = next(f for f in FORM if f["type"] == ftype)
    clean, errors = validate([field], {field["name"]: value}, partial=partial)
    _assert_sane(clean, errors)


@settings(max_examples=200, deadline=None)
@given(data=json_values | TRICKY)
def test_data_of_any_shape_does_not_raise(data: Any) -> None:
    _assert_sane(*validate(FORM, data))
    assert isinstance(required_missing(FORM, data), list)


definition_values = json_values | st.lists(
    st.fixed_dictionaries({}, optional={
        "name": st.sampled_from(["a", "b", "A"]) | json_values,
        "label": st.sampled_from(["甲", ""]) | json_values,
        "type": st.sampled_from(FIELD_TYPES) | json_values,
        "required": json_values, "help": json_values, "max": json_values,
        "min": json_values | TRICKY, "options": json_values | st.just([{"value": "a",
                                                                        "label": "甲"}]),
        "max_selected": json_values, "min_rows": json_values, "max_rows": json_values,
        "multiple": json_values, "max_files": json_values,
    }) | json_values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(fields=definition_values)
def test_no_definition_makes_validate_schema_raise(fields: Any) -> None:
    problems = validate_schema(fields)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    assert isinstance(required_missing(fields, {}), list)
    if not problems:  # a definition it accepts can be used on any data
        clean, errors = validate(fields, {"a": "x", "b": ["a"]})
        assert isinstance(clean, dict) and isinstance(errors, dict)


# Mostly well-formed values, so that the round trip below sees many cleaned values.
PLAUSIBLE = {
    "title_en": st.text(max_size=25),
    "summary": st.text(max_size=40),
    "patents": st.integers(-5, 120) | st.integers(-5, 120).map(str),
    "amount": st.decimals(min_value=0, max_value=600, places=6, allow_nan=False,
                          allow_infinity=False).map(str) | st.integers(0, 600),
    "start": st.dates(date(2023, 6, 1), date(2027, 6, 1)).map(date.isoformat),
    "field": st.sampled_from(["materials", "agri", "it", "x", ""]),
    "tags": st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=4),
    "team": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["张三", "李四", ""]),
         "id_number": st.integers(0, 12).map(make_id) | st.just(ID_BAD_CHECK),
         "org": st.sampled_from(["赣南科技大学", ""])},
        optional={"role": st.text(max_size=5), "title": st.text(max_size=5)}), max_size=4),
    "unit": st.fixed_dictionaries({"name": st.sampled_from(["赣南科技大学", ""]),
                                   "uscc": st.sampled_from([USCC, "", "91360700MA35A0001Q"])}),
    "plan": st.sampled_from([SHA_A, SHA_B.upper(), [SHA_A], ""]),
    "extra": st.lists(st.sampled_from([SHA_A, SHA_B, "c" * 64]), max_size=4),
}


@settings(max_examples=300, deadline=None)
@given(data=st.fixed_dictionaries({}, optional=PLAUSIBLE), partial=st.booleans())
def test_cleaned_data_survives_a_round_trip(data: dict[str, Any], partial: bool) -> None:
    clean, errors = validate(FORM, data, partial=partial)
    _assert_sane(clean, errors)
    assert validate(FORM, to_input(FORM, clean), partial=partial)[0] == clean
    if clean.get("amount") is not None:
        assert Decimal(clean["amount"]) == Decimal(str(data["amount"])) * 10000
    if not partial and not errors:
        assert required_missing(FORM, clean) == []


def test_long_input_is_handled_in_linear_time() -> None:
    """No regular expression may backtrack on a megabyte of spaces or digits."""
    import time

    started = time.perf_counter()
    for name, value in (("title_en", " " * 1_000_000 + "x"), ("summary", " \t" * 500_000 + "x"),
                        ("patents", "1" * 1_000_000 + ","), ("amount", "1," * 500_000),
                        ("plan", "a" * 1_000_000), ("start", "2" * 1_000_000)):
        clean, errors = one(name, value)
        assert clean or errors, name
    assert time.perf_counter() - started < 5
