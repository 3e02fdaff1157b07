"""Alembic migrations: the schema they build is the models' schema, and upgrading a database that
holds data keeps the data — on SQLite and on PostgreSQL (``database_url``, see conftest)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from baas.db import Base, current_revision, make_engine, upgrade_database


def test_migrations_build_exactly_the_models(database_url):
    engine = make_engine(database_url)
    upgrade_database(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrading_an_existing_database_keeps_its_data(database_url):
    engine = make_engine(database_url)
    upgrade_database(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO organizations (id, name, display_name, created_at) "
                                "VALUES (1, 'acme', 'Acme', '2026-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO audit_log (at, actor, action, target, details, client, previous_hash, entry_hash) "
                                "VALUES ('2026-01-01 00:00:00', 'system', 'x', '', '{}', '', :p, :h)"),
                           {"p": "0" * 64, "h": "1" * 64})
        connection.execute(text("UPDATE audit_log SET actor = 'before-0002' WHERE id = 1"))  # no trigger yet
    upgrade_database(engine)
    assert current_revision(engine) == "0003"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM organizations")).scalar() == "acme"
        assert connection.execute(text("SELECT actor FROM audit_log")).scalar() == "before-0002"
    for statement in ("UPDATE audit_log SET actor = 'after'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_log")).scalar() == "before-0002"
    engine.dispose()


def test_0003_fills_the_gateway_url_of_existing_nodes(database_url):
    engine = make_engine(database_url)
    upgrade_database(engine, "0002")
    with engine.begin() as connection:
        statements = [
            "INSERT INTO organizations (id, name, display_name, created_at) VALUES (1, 'acme', 'Acme', '2026-01-01')",
            "INSERT INTO custody_keys (id, organization_id, purpose, label, algorithm, public_key, address, "
            "sealed_private_key, imported, created_at) VALUES (1, 1, 'node', 'k', 'ED25519', 'pk', 'addr', :sealed, :no, '2026-01-01')",
            "INSERT INTO consortia (id, name, description, policy, created_by_org_id, created_at) "
            "VALUES (1, 'c', '', 'majority', 1, '2026-01-01')",
            "INSERT INTO networks (id, name, consortium_id, crypto, consensus, provisioner, status, status_reason, created_at) "
            "VALUES (1, 'n', 1, 'classic', '{}', 'local', 'running', '', '2026-01-01')",
            "INSERT INTO nodes (id, network_id, organization_id, name, key_id, grpc_port, gateway_port, desired_state, "
            "status, restarts, validator, created_at) VALUES (1, 1, 1, 'acme-0', 1, 7100, 8100, 'running', 'running', 0, :yes, '2026-01-01')",
        ]
        for statement in statements:
            # Blobs and booleans as bound values: their literal syntax differs between the databases.
            connection.execute(text(statement), {"sealed": b"\0", "no": False, "yes": True})
    upgrade_database(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT name, gateway_port, gateway_url FROM nodes")).one()
    engine.dispose()
    assert tuple(row) == ("acme-0", 8100, "http://127.0.0.1:8100")
