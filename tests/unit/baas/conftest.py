"""Control-plane test fixtures: every test that runs the control plane (``running_baas``) and the
migration tests run twice, against SQLite and against PostgreSQL.

The PostgreSQL server is the one ``JADECHAIN_TEST_POSTGRES_URL`` names (``.ci/run`` installs, starts
and exports it: ``postgresql+psycopg://jadechain:jadechain@127.0.0.1:5432/jadechain``). Each test module
(its control plane is module-scoped) gets a database of its own, created from that URL's role and dropped afterwards. Without the variable,
or when the server does not answer, the PostgreSQL variant is skipped and says why.
"""

from pathlib import Path

import pytest

from tests.support import baas_testkit

# A test module that imports one of these runs against both databases.
_DATABASE_MODULES = ("running_baas", "make_engine")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "baas_database" in metafunc.fixturenames and any(name in vars(metafunc.module) for name in _DATABASE_MODULES):
        metafunc.parametrize("baas_database", ["sqlite", "postgresql"], indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def baas_database(request: pytest.FixtureRequest):
    """The database backend of this test: ``"sqlite"`` (default) or a fresh PostgreSQL database."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield None
        return
    reason = baas_testkit.postgres_unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL variant: {reason}")
    with baas_testkit.postgres_database() as url:
        baas_testkit.DATABASE_URL = url
        try:
            yield url
        finally:
            baas_testkit.DATABASE_URL = None


@pytest.fixture
def database_url(baas_database, tmp_path: Path) -> str:
    """A URL for a test that builds its own engine: a fresh SQLite file, or this module's PostgreSQL
    database (emptied first, so each test starts from nothing)."""
    if baas_database is None:
        return f"sqlite:///{tmp_path / 'test.db'}"
    baas_testkit.empty_postgres_database(baas_database)
    return baas_database


@pytest.fixture(autouse=True)
def _control_plane_on_this_backend(request: pytest.FixtureRequest, baas_database) -> None:
    """A module fixture that starts the control plane must depend on ``baas_database``; otherwise the
    PostgreSQL variant would silently reuse the SQLite variant's server (and its data)."""
    expected = "sqlite" if baas_database is None else "postgresql"
    for server in baas_testkit.RUNNING:
        actual = server.state.engine.dialect.name
        if actual != expected:
            pytest.fail(f"{request.node.nodeid}: the control plane of this test runs on {actual}, the variant is "
                        f"{expected}: add `baas_database` to the parameters of the module fixture that starts it")
