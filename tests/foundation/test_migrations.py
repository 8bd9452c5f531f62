"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Base
from models.migrate import alembic_config


def _upgrade_on(connection: Connection, url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    script = ScriptDirectory.from_config(cfg)

    def do_upgrade(rev: object, context: object) -> object:
        return script._upgrade_revs("head", rev)  # type: ignore[arg-type]

    with EnvironmentContext(cfg, script, fn=do_upgrade, as_sql=False, starting_rev=None, destination_rev="head"):
        script.run_env()


def _diff(connection: Connection) -> list[object]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def test_given_empty_database_when_migrated_then_schema_equals_models(db_engine: AsyncEngine) -> None:
    await _empty(db_engine)
    url = db_engine.url.render_as_string(hide_password=False)
    async with db_engine.begin() as conn:
        await conn.run_sync(_upgrade_on, url)
    async with db_engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        diff = await conn.run_sync(_diff)
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert diff == []
