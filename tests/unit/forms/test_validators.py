from decimal import Decimal

import pytest

from forms import (
    FieldError,
    check_id_number,
    check_password,
    check_phone,
    check_uscc,
    format_wan,
    format_wan_exact,
    parse_wan,
)


def test_valid_uscc_is_returned_compact():
    assert check_uscc("91360700MA35A0001P") == "91360700MA35A0001P"
    assert check_uscc(" 91360700 MA35A0001P ") == "91360700MA35A0001P"


def test_uscc_with_wrong_check_character_is_explained():
    with pytest.raises(FieldError, match="校验位不正确"):
        check_uscc("91360700MA35A0001Q")


@pytest.mark.parametrize("value", ["", "123", "91360700MA35A0001PX", "ABCDEFGHMA35A0001P"])
def test_malformed_uscc_is_refused(value):
    with pytest.raises(FieldError, match="18位"):
        check_uscc(value)


def test_id_number_checks_digit_and_birth_date():
    assert check_id_number("362101198001010019") == "362101198001010019"
    with pytest.raises(FieldError, match="校验位"):
        check_id_number("362101198001010011")
    with pytest.raises(FieldError, match="出生日期"):
        check_id_number("110101198013010018")
    with pytest.raises(FieldError, match="18位"):
        check_id_number("1101011980")


@pytest.mark.parametrize("value,expected", [
    ("13812345678", "13812345678"), ("+86 138 1234 5678", "13812345678"),
    ("0797-8123456", "0797-8123456"),
])
def test_phone_numbers(value, expected):
    assert check_phone(value) == expected


@pytest.mark.parametrize("value", ["12345", "23812345678", "abc"])
def test_bad_phone_numbers(value):
    with pytest.raises(FieldError, match="电话号码"):
        check_phone(value)


def test_money_is_typed_in_wan_and_stored_in_yuan():
    assert parse_wan("12.5") == Decimal("125000.00")
    assert parse_wan("0.01") == Decimal("100.00")
    assert format_wan(Decimal("123456.78")) == "12.35"
    assert parse_wan("1,234.5") == Decimal("12345000.00")
    assert str(parse_wan("-0")) == "0.00"


@pytest.mark.parametrize("yuan,wan", [
    ("600000.00", "60.00"), ("605000", "60.50"), ("123400", "12.34"), ("0", "0.00"),
    ("-0.00", "0.00"), ("999999999900.00", "99999999.99"),
])
def test_exact_wan_reads_back_to_the_same_yuan(yuan, wan):
    assert format_wan_exact(Decimal(yuan)) == wan
    assert parse_wan(wan) == Decimal(yuan) + 0


@pytest.mark.parametrize("wan", ["12.345678", "0.001", "0.000001", "1,234.567"])
def test_more_than_two_decimals_in_wan_are_refused_not_stored_as_hidden_yuan(wan):
    with pytest.raises(FieldError, match="最多保留两位小数（精确到百元）"):
        parse_wan(wan)


def test_amounts_stored_finer_than_a_hundred_yuan_still_read_exactly():
    # Stored before two decimals were the rule: shown as they are, never rounded.
    assert format_wan_exact(Decimal("123456.78")) == "12.345678"


@pytest.mark.parametrize("value,message", [
    ("-1", "负数"), ("abc", "数字"), ("0.0000001", "两位小数"), ("NaN", "数字"), ("1e12", "范围"),
    ("1e999999", "范围"), ("1,5", "数字"), ("", "数字"),
])
def test_bad_money(value, message):
    with pytest.raises(FieldError, match=message):
        parse_wan(value)


@pytest.mark.parametrize("password,message", [
    ("short", "至少"), ("1234567890", "常见"), ("aaaaaaaaaaaa", "简单"),
    ("zhangsan-secret", "用户名"),
])
def test_weak_passwords_are_refused(password, message):
    with pytest.raises(FieldError, match=message):
        check_password(password, "zhangsan")


@pytest.mark.parametrize("password", ["playstation", "tinkerbell", "realmadrid",
                                      "dragonball", "Manchester"])
def test_passwords_of_the_maintained_common_list_are_refused(password):
    # From zxcvbn's list of the 30,000 most common passwords, not from our own short one.
    with pytest.raises(FieldError, match="过于常见"):
        check_password(password, "zhangsan")


def test_good_password_passes():
    assert check_password("kjflow-Demo-2026", "officer") == "kjflow-Demo-2026"
