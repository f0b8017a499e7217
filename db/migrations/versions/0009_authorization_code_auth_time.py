"""identity: authorization codes remember when the user signed in (OpenID Connect).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

The ``id_token`` of the code flow carries ``auth_time``: the moment the user authenticated
in the browser session that approved the code, not the moment the code was redeemed. The
code row is the only place it survives between /oauth/authorize and /oauth/token. Codes
issued before this migration have no value (the id_token then uses the issue time).
See docs/adr/0037-authorize-pkce-and-browser-sessions.md.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE identity.authorization_codes ADD COLUMN auth_time timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE identity.authorization_codes DROP COLUMN auth_time")
