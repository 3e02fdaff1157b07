"""The dev ledger ceremony: founder keys, a genesis signed by all of them, a database per node.

``jadechain genesis dev``, ``jadechain net up``, ``jadechain up`` and the solo dev node all start
from :func:`create_dev_network`; a real consortium runs the ceremony step by step (``jadechain genesis``).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from ledger import codec
from ledger.crypto import (
    algorithm_by_name,
    generate_keypair,
    load_keypair,
    save_keypair,
    to_base58,
)
from ledger.errors import ConfigError
from ledger.genesis import assemble_genesis, genesis_ledger_hash, parse_genesis_config, sign_genesis
from ledger.types import Block

__all__ = ["GENESIS_FORMAT", "create_dev_network", "default_contract_engine", "read_genesis_file"]

GENESIS_FORMAT = "jadechain-genesis/1"


def default_contract_engine() -> str:
    """The contract engine a new ledger records when its config names none: the WebAssembly engine."""
    from contracts.vm import engine_identity

    return engine_identity()


def read_genesis_file(path: Path) -> Block:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read genesis file {path}: {exc}") from exc
    if document.get("format") != GENESIS_FORMAT:
        raise ConfigError(f"{path} is not a genesis file")
    return codec.decode(Block, bytes.fromhex(document["block"]))


def create_dev_network(directory: Path, nodes: int, crypto: str) -> dict[str, Any]:
    if crypto not in ("classic", "sm"):
        raise ConfigError("--crypto must be classic or sm")
    algorithm = algorithm_by_name("SM2" if crypto == "sm" else "ED25519")
    hash_name = "SM3" if crypto == "sm" else "SHA256"
    key_dir = directory / "keys"
    key_dir.mkdir(parents=True, exist_ok=True)
    password_file = key_dir / "PASSWORD"
    if password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(24)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    pairs = []
    for index in range(nodes):
        path = key_dir / f"node{index}.json"
        if path.exists():
            pairs.append(load_keypair(path, password))
            continue
        pair = generate_keypair(algorithm)
        save_keypair(path, pair, password)
        pairs.append(pair)
    participants = "\n".join(
        f'[[participants]]\nname = "org{index}"\npublic_key = "{pair.public.base58}"\n'
        for index, pair in enumerate(pairs)
    )
    config_text = (
        f'[ledger]\nname = "dev"\nhash_algorithm = "{hash_name}"\n'
        f'signature_algorithms = ["SM2", "ED25519", "ECDSA"]\ncreated_time = {int(time.time() * 1000)}\n'
        f"contract_engine = {json.dumps(default_contract_engine())}\n\n"
        f"{participants}"
    )
    (directory / "ledger.toml").write_text(config_text)
    config = parse_genesis_config(config_text)
    signatures = [sign_genesis(config, pair.private, pair.public) for pair in pairs]
    block = assemble_genesis(config, signatures)
    ledger_hash = to_base58(genesis_ledger_hash(block, config))
    (directory / "genesis.json").write_text(json.dumps(
        {"format": GENESIS_FORMAT, "ledger_hash": ledger_hash, "block": codec.encode(block).hex()}, indent=2
    ))
    from ledger.store.directory import create_ledger

    node_info = []
    for index in range(nodes):
        data_dir = directory / f"node{index}"
        create_ledger(str(data_dir), block).close()
        node_info.append({"name": f"node{index}", "data_dir": str(data_dir), "key": str(key_dir / f"node{index}.json")})
    return {
        "ledger_hash": ledger_hash,
        "crypto": crypto,
        "key_dir": str(key_dir),
        "password_file": str(password_file),
        "genesis": str(directory / "genesis.json"),
        "nodes": node_info,
    }
