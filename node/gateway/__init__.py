"""The node's HTTP gateway (FastAPI): JD Chain's query surface plus submission, proofs and a push stream.

Build it with :func:`node.gateway.app.create_app` (``{ledger hash: LedgerRuntime}``, settings); run it
with :func:`node.solo.serve_solo` or :class:`jadechain.devnet.solo.SoloNode`. OpenAPI at ``/docs`` and ``/openapi.json``.

Routes (``{ledger}`` is the base58 ledger hash; lists take ``?offset=&limit=`` (limit ≤ 1000) and
answer ``{total, offset, limit, items}``)::

    GET  /health                                        status and height per ledger
    GET  /metrics                                       Prometheus
    GET  /api/v1/admin/mempool                          mempool stats (Authorization: Bearer <admin token>)
    GET  /api/v1/ledgers                                ledgers hosted here
    GET  /api/v1/ledgers/{ledger}                       hash, height, latest block hash, roots, settings, validators
    GET  .../{ledger}/validators                        the validator set (for proof verification)
    GET  .../{ledger}/participants
    GET  .../{ledger}/blocks/latest | /blocks/{height} | /blocks/hash/{block_hash}
    GET  .../{ledger}/blocks/{height}/txs               results of a block's transactions (paged)
    POST .../{ledger}/txs[?wait=commit&timeout=S]       submit (JSON hex / msgpack; one or a batch)
    GET  .../{ledger}/txs/{tx_hash}[?proof=true][?wait=commit]     with the contract return values (results)
    POST .../{ledger}/call                              read-only contract call (a signed, never submitted tx)
    GET  .../{ledger}/users | /data-accounts | /event-accounts | /contracts      (paged, with total)
    GET  .../{ledger}/contracts/{address}[?source=false]
    GET  .../{ledger}/accounts/{address}
    GET  .../{ledger}/accounts/{address}/entries        keys with their latest versions (paged)
    GET  .../{ledger}/accounts/{address}/entry?key=K[&version=V][&proof=true]
    GET  .../{ledger}/accounts/{address}/entry/versions?key=K        every version (paged)
    GET  .../{ledger}/accounts/{address}/topics
    GET  .../{ledger}/accounts/{address}/events?topic=T&from=S&limit=N
    GET  .../{ledger}/accounts/{address}/events/{sequence}?topic=T[&proof=true]
    GET  .../{ledger}/roles | /roles/{role} | /users/{address}/roles
    GET  .../{ledger}/proposals[?status=]                governance proposals, newest first (paged)
    GET  .../{ledger}/proposals/{id}[?proof=true]        one proposal: operations, votes, outcome
    GET  .../{ledger}/proofs/consistency?old_height=&new_height=
    GET  .../{ledger}/stream[?from_height=H][&kinds=block,tx,event]   SSE; resumes with Last-Event-ID: h:i

Entry keys travel as a query parameter because keys may contain ``/``. Errors are always
``{code, message}`` with the error's stable code and HTTP status.
"""
