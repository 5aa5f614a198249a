"""Case presentations: submitted cases, their review and scheduling, all text sealed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:15:01.165565
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('case_presentation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('draft_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('content', _JSON, nullable=False),  # sealed
    sa.Column('returned', _JSON, nullable=True),  # sealed
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_started_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['network_id'], ['network.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['series_id'], ['series.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('draft_key'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('case_presentation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_presentation_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_case_presentation_network_state', ['network_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_presentation_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_presentation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_presentation_session_id'))
        batch_op.drop_index('ix_case_presentation_network_state')
        batch_op.drop_index(batch_op.f('ix_case_presentation_author_id'))

    op.drop_table('case_presentation')
