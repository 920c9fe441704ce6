"""WTForms classes for the fixed account pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=256)])


class CodeForm(FlaskForm):
    """The second step of a login, and the proof of an authenticator being enrolled."""

    code = StringField("验证码", validators=[DataRequired("请输入验证码"), Length(max=20)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("当前密码", validators=[
        DataRequired("请输入当前密码"), Length(max=256)])
    new_password = PasswordField("新密码", validators=[
        DataRequired("请输入新密码"), Length(max=256)])
    confirm_password = PasswordField("确认新密码", validators=[
        DataRequired("请再次输入新密码"), Length(max=256)])


class ForgotPasswordForm(FlaskForm):
    identifier = StringField("用户名或电子邮箱", validators=[
        DataRequired("请输入用户名或电子邮箱"), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField("新密码", validators=[
        DataRequired("请输入新密码"), Length(max=256)])
    confirm_password = PasswordField("确认新密码", validators=[
        DataRequired("请再次输入新密码"), Length(max=256)])


class ConfirmPasswordForm(FlaskForm):
    """An action on one's own account that asks for the password again."""

    password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"),
                                                 Length(max=256)])
