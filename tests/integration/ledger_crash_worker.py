"""Worker process of the crash-recovery test: applies a seeded chain to a LevelDB ledger.

``python -m tests.integration.ledger_crash_worker DB_PATH SEED TARGET_HEIGHT`` opens (or creates) the ledger in
``DB_PATH`` with ``sync=True`` and applies blocks ``height + 1 .. TARGET_HEIGHT`` of the chain
that :class:`ChainPlan` derives from ``SEED``. It prints ``open H`` once the ledger is open and
``applied H`` after each block, so the parent knows when to start its kill timer.

Everything in a block is a pure function of the seed and the height: Ed25519 keys from seeded
private keys (Ed25519 signatures are deterministic), fixed nonces and fixed times. Two processes
with the same seed therefore build byte-identical blocks, which is what lets the test resume a
killed run in a new process and compare the result with a clean replay.
"""

from __future__ import annotations

import hashlib
import sys

from ledger.crypto import ED25519, KeyPair, PrivateKey, address_from_public_key, keypair_from_private
from ledger.errors import NotFound
from ledger.genesis import assemble_genesis, parse_genesis_config, sign_genesis
from ledger.ledger import Ledger
from ledger.store.leveldb import LevelDBStore
from ledger.transactions import TransactionBuilder, sign_content
from ledger.types import Block, RegisterUser, Transaction, WritePolicy

FOUNDERS = 4
USERS = 4
KV_TXS_PER_BLOCK = 120
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000
FIRST_KV_HEIGHT = 3
"""Block 1 registers the users, block 2 their data accounts, KV writes follow."""


class ChainPlan:
    """The deterministic chain of one seed: keys, genesis and each block's transactions."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.founders = [self._keypair(f"founder/{index}") for index in range(FOUNDERS)]
        self.users = [self._keypair(f"user/{index}") for index in range(USERS)]
        self.data_keys = [self._keypair(f"data/{index}") for index in range(USERS)]
        self.data_accounts = [address_from_public_key(pair.public) for pair in self.data_keys]

    @property
    def admin(self) -> KeyPair:
        return self.founders[0]

    def _digest(self, label: str) -> bytes:
        return hashlib.sha256(f"jadechain-crash/{self.seed}/{label}".encode()).digest()

    def _keypair(self, label: str) -> KeyPair:
        return keypair_from_private(PrivateKey(ED25519, self._digest(f"key/{label}")))

    def genesis(self) -> Block:
        participants = "\n".join(
            f'[[participants]]\nname = "org{index}"\npublic_key = "{pair.public.base58}"\n'
            for index, pair in enumerate(self.founders)
        )
        config = parse_genesis_config(
            f'[ledger]\nname = "crash-{self.seed}"\nhash_algorithm = "SHA256"\n'
            f'signature_algorithms = ["ED25519"]\ncreated_time = {GENESIS_TIME_MS}\n\n{participants}'
        )
        signatures = [sign_genesis(config, pair.private, pair.public) for pair in self.founders]
        return assemble_genesis(config, signatures)

    def block_time(self, height: int) -> int:
        return GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS

    def hot_key_slots(self) -> list[int]:
        """Positions in a KV block that overwrite the same key every block."""
        return [index for index in range(KV_TXS_PER_BLOCK) if index % 4 == 0]

    def transactions(self, height: int, ledger_hash: bytes) -> list[Transaction]:
        """The transactions of block ``height`` (height >= 1)."""
        time_ms = self.block_time(height)

        def signed(builder: TransactionBuilder, index: int, signer: KeyPair) -> Transaction:
            nonce = self._digest(f"nonce/{height}/{index}")[:16]
            return sign_content(builder.content(nonce=nonce), signer)

        if height == 1:
            return [
                signed(
                    TransactionBuilder(ledger_hash, time_ms=time_ms).add(
                        RegisterUser(user.public.encoded, f"user{index}")
                    ),
                    index,
                    self.admin,
                )
                for index, user in enumerate(self.users)
            ]
        if height == 2:
            return [
                signed(
                    TransactionBuilder(ledger_hash, time_ms=time_ms).register_data_account(
                        data.public.encoded, WritePolicy.OWNERS
                    ),
                    index,
                    user,
                )
                for index, (user, data) in enumerate(zip(self.users, self.data_keys))
            ]
        transactions = []
        for index in range(KV_TXS_PER_BLOCK):
            owner = index % USERS
            account = self.data_accounts[owner]
            builder = TransactionBuilder(ledger_hash, time_ms=time_ms)
            value = f"{height}.{index}.{self._digest(f'value/{height}/{index}').hex()[:24]}"
            if index % 4 == 0:
                # The same key every block: version height - FIRST_KV_HEIGHT after this block.
                builder.kv_set(account, f"hot/{index}", value, height - FIRST_KV_HEIGHT - 1)
            elif index % 17 == 5:
                # A stale expected version: executed and recorded, but as a VersionConflict.
                builder.kv_set(account, f"block/{height}/{index}", value, 7)
            else:
                builder.kv_set(account, f"block/{height}/{index}", value, -1)
            transactions.append(signed(builder, index, self.users[owner]))
        return transactions

    def make_next_block(self, ledger: Ledger) -> Block:
        height = ledger.height + 1
        return ledger.make_block(
            self.transactions(height, ledger.ledger_hash),
            time=self.block_time(height),
            proposer=self.admin.public.encoded,
        )


def open_or_create(path: str, plan: ChainPlan) -> Ledger:
    store = LevelDBStore(path, sync=True)
    try:
        return Ledger(store)
    except NotFound:
        return Ledger.create(store, plan.genesis())
    except BaseException:
        store.close()
        raise


def main(argv: list[str]) -> int:
    path, seed, target = argv[0], int(argv[1]), int(argv[2])
    plan = ChainPlan(seed)
    ledger = open_or_create(path, plan)
    try:
        print(f"open {ledger.height}", flush=True)
        while ledger.height < target:
            result = ledger.apply_block(plan.make_next_block(ledger))
            print(f"applied {result.header.height}", flush=True)
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
