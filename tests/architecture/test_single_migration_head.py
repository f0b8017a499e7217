"""Parallel branches each add a migration; exactly one head must remain after they merge."""

from alembic.config import Config
from alembic.script import ScriptDirectory
from bijmantra.adapters.postgres.migrate import migrations_dir


def test_the_migrations_form_a_single_chain() -> None:
    config = Config()
    folder = migrations_dir()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("prepend_sys_path", str(folder))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"
