"""nodes remember where their gateway is reached (in-cluster DNS for Kubernetes nodes)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("gateway_url", sa.String(length=300), nullable=True))
    # Nodes made before this revision all ran on this machine.
    op.execute("UPDATE nodes SET gateway_url = 'http://127.0.0.1:' || gateway_port")


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("gateway_url")
