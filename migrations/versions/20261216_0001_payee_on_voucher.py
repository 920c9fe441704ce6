"""the payee on the tranche's voucher; organisations audited

Revision ID: 20261216_0001
Revises: 20261216_0008
Create Date: 2026-12-16

A tranche keeps the payee (name, bank, account) the maker checked when preparing it, and
is approved and paid to that account only. Tranches already prepared, approved or
released take their organisation's account as it stands at this upgrade (the best the
database knows: earlier changes of an account were not recorded). Organisations carry
the head of their own audit chain, as the other audited rows do.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261216_0001'
down_revision = '20261216_0008'
branch_labels = None
depends_on = None

ON_VOUCHER = "('prepared', 'approved', 'released')"


def upgrade():
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_seq', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('audit_hash', sa.String(length=64), nullable=True))

    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payee_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('payee_bank', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('payee_account', sa.String(length=40), nullable=True))
    for column, source in (("payee_name", "name"), ("payee_bank", "bank_name"),
                           ("payee_account", "bank_account")):
        op.execute(f"""
            UPDATE tranche SET {column} = (
              SELECT COALESCE(o.{source}, '') FROM organization o
              JOIN application a ON a.organization_id = o.id
              WHERE a.id = tranche.application_id)
            WHERE state IN {ON_VOUCHER}
        """)
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_tranche_payee_on_voucher'),
            f"state NOT IN {ON_VOUCHER} OR (payee_name IS NOT NULL "
            "AND payee_bank IS NOT NULL AND payee_account IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tranche_payee_on_voucher'), type_='check')
        batch_op.drop_column('payee_account')
        batch_op.drop_column('payee_bank')
        batch_op.drop_column('payee_name')

    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('audit_hash')
        batch_op.drop_column('audit_seq')
