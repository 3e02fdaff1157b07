"""Settings of the control plane (environment ``JADECHAIN_BAAS_*`` or constructor arguments)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class BaasSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JADECHAIN_BAAS_", extra="ignore")

    data_dir: Path = Path(".jadechain/control-plane")
    """Holds the SQLite database, the master key file, node directories, logs and the admin password."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/baas.db``. PostgreSQL: ``postgresql+psycopg://...``."""
    host: str = "127.0.0.1"
    port: int = 8700
    master_key_file: Path | None = None
    """Where the custody master key lives when ``JADECHAIN_MASTER_KEY`` is not set (default data_dir/master.key)."""
    session_ttl_seconds: int = 8 * 3600
    token_default_ttl_days: int = 90
    login_max_failures: int = 5
    """Failed logins per user name and per client address within ``login_window_seconds`` before 429."""
    login_window_seconds: int = 300
    provisioner: Literal["local", "kubernetes"] = "local"
    node_backend: Literal["auto", "server", "solo"] = "auto"
    """``server`` runs ``python -m node.server``; ``solo`` a single-validator solo node; ``auto`` picks
    ``server`` when the module exists and the network has several validators."""
    base_port: int = 17100
    """First port the local provisioner tries when it allocates node ports."""
    monitor_interval_seconds: float = 2.0
    supervise: bool = True
    """Run the supervisor (restart crashed nodes, scrape metrics) in the background."""
    cookie_secure: bool = False
    """Always mark cookies Secure (they are Secure anyway when the request came over TLS)."""
    trusted_proxies: list[str] = []
    """Addresses of reverse proxies whose ``X-Forwarded-For`` is believed; from anyone else it is ignored."""
    max_request_bytes: int = 2 << 20
    """Largest request body the API takes (413 beyond)."""
    token_max_ttl_days: int = 365
    """Longest lifetime of an API token; a token that never expires is refused."""
    external_tsa_urls: list[str] = []
    """The platform admin's allow-list of external RFC 3161 TSAs an evidence app may be pointed at."""
    tls_certificate_file: Path | None = None
    """Serve the control plane over TLS with this PEM certificate chain (and ``tls_key_file``)."""
    tls_key_file: Path | None = None
    kubeconfig: str | None = None
    kubernetes_namespace: str = "jadechain"
    node_image: str = "jadechain/node:0.1.0"
    adopt_network: Path | None = None
    """A network directory of ``jadechain net`` (``jadechain up`` passes its own) to show in the console as an
    external network: recorded at start, idempotently, never started or stopped by the control plane."""
    adopt_apps: dict[str, str] = {}
    """Apps that run beside the adopted network: kind (``evidence``, ``traceability``) → URL."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'baas.db'}"


@lru_cache
def get_settings() -> BaasSettings:
    return BaasSettings()
