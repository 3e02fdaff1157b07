"""Jadechain BFT consensus: DiemBFT v4 / Jolteon (two-chain HotStuff) as a sans-IO core.

Layout, one module per responsibility:

- ``types``: wire types and their canonical msgpack encoding (``encode_*`` / ``decode_*``).
- ``interfaces``: what the node injects (signer, verifier, validator set, payload source,
  execution engine, safety storage, consensus store, leader election).
- ``safety_rules`` + ``safety_storage``: the auditable voting and timeout rules, persisted
  (fsync) before a vote or timeout is released.
- ``verification``: signatures, quorums and epochs checked at ingress.
- ``pacemaker``: round state and timeouts with backoff (pure functions).
- ``leader_election``: round-robin, fixed tables, reputation.
- ``block_tree`` + ``block_store``: certified blocks, two-chain commit, pruning, recovery.
- ``round_manager``: the core, ``RoundManager.on_event(event) -> list[Action]``.
- ``simulation`` + ``twins``: deterministic simulated networks and Byzantine twins scenarios.
"""
