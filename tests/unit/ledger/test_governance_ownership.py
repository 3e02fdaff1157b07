"""No member acts alone: ownership on chain, and the attacks one organisation could try.

Three organisations (A runs two nodes, B and C one each) found a ledger. Every founder is
ADMIN of its own organisation. These tests are the attacks of issue "Consortium governance":
on the code before ownership was recorded, B's signature alone froze A's contract and A's
user, changed a role and the settings and removed a validator.
"""

from __future__ import annotations

import pytest

from ledger.crypto import address_from_public_key
from ledger.genesis import assemble_genesis, parse_genesis_config, sign_genesis
from ledger.ledger import Ledger
from ledger.store.memory import MemoryStore
from ledger.types import (
    AccountState,
    AuthorizeUserRoles,
    ConfigureRole,
    LedgerPermission,
    ParticipantState,
    RolesPolicy,
    TransactionPermission,
    TypedValue,
    UpdateAccountState,
    UpdateLedgerSettings,
    UpdateParticipantState,
    UpgradeContract,
)

from tests.unit.ledger.ledger_testkit import GENESIS_TIME, Chain, seeded_keypair
from contracts.vm import engine_identity

contracts = pytest.importorskip("contracts")

CONTRACT = '''
from jadechain import contract, callable

@contract
class Note:
    @callable
    def hello(self) -> str:
        return "hi"
'''
CONTRACT_V2 = CONTRACT.replace('"hi"', '"hi again"')


def consortium_toml(founders, organizations, extra: str = "") -> str:
    parts = "\n".join(
        f'[[participants]]\nname = "node{i}"\norganization = "{org}"\npublic_key = "{pair.public.base58}"\n'
        for i, (pair, org) in enumerate(zip(founders, organizations))
    )
    return (
        f'[ledger]\nname = "consortium"\nhash_algorithm = "SHA256"\n'
        f'signature_algorithms = ["SM2", "ED25519"]\ncreated_time = {GENESIS_TIME}\n'
        f'contract_engine = "{engine_identity()}"\n{parts}\n{extra}'
    )


def make_consortium(extra: str = "", organizations=("A", "A", "B", "C")) -> Chain:
    founders = [seeded_keypair(f"consortium-{i}") for i in range(len(organizations))]
    config = parse_genesis_config(consortium_toml(founders, organizations, extra))
    genesis = assemble_genesis(config, [sign_genesis(config, p.private, p.public) for p in founders])
    ledger = Ledger.create(MemoryStore(), genesis, runtime=contracts.EngineSet())
    chain = Chain(ledger, founders)
    chain.genesis = genesis  # type: ignore[attr-defined]
    return chain


class Orgs:
    """The admins of the three organisations and one object of A's of each kind."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.a, self.a2, self.b, self.c = chain.founders
        self.a_user = seeded_keypair("a-user")
        self.a_user_address = address_from_public_key(self.a_user.public)
        data = seeded_keypair("a-data")
        self.a_data = address_from_public_key(data.public)
        contract = seeded_keypair("a-contract")
        self.a_contract = address_from_public_key(contract.public)
        statuses = chain.statuses(chain.tx(
            lambda b: b.register_user(self.a_user.public.encoded, "a-user")
            .register_data_account(data.public.encoded)
            .deploy_contract(contract.public.encoded, CONTRACT, 1),
            self.a,
        ))
        assert statuses == ["SUCCESS"], statuses

    def run(self, operation, *signers) -> str:
        return self.chain.statuses(self.chain.tx(lambda b: b.add(operation), *signers))[0]


@pytest.fixture
def orgs() -> Orgs:
    return Orgs(make_consortium())


def test_objects_record_the_organisation_that_registered_them(orgs: Orgs) -> None:
    ledger = orgs.chain.ledger
    assert ledger.get_account(orgs.a_user_address).organization == "A"
    assert ledger.get_account(orgs.a_data).organization == "A"
    assert ledger.get_account(orgs.a_contract).organization == "A"
    assert ledger.get_account(address_from_public_key(orgs.b.public)).organization == "B"
    assert {p.name: p.organization for p in ledger.list_participants()} == {
        "node0": "A", "node1": "A", "node2": "B", "node3": "C",
    }
    assert orgs.chain.ledger.settings.governance.to_python()["organizations"] == {"A": 1, "B": 1, "C": 1}


def test_b_alone_cannot_freeze_or_upgrade_what_a_owns(orgs: Orgs) -> None:
    for address in (orgs.a_contract, orgs.a_user_address, orgs.a_data):
        assert orgs.run(UpdateAccountState(address, AccountState.FROZEN), orgs.b) == "NOT_OWNER"
        assert orgs.run(UpdateAccountState(address, AccountState.REVOKED), orgs.b) == "NOT_OWNER"
    # A's own founder identity, too.
    a_admin = address_from_public_key(orgs.a.public)
    assert orgs.run(UpdateAccountState(a_admin, AccountState.FROZEN), orgs.b) == "NOT_OWNER"
    assert orgs.run(UpgradeContract(orgs.a_contract, CONTRACT_V2, 2), orgs.b) == "NOT_OWNER"
    assert orgs.run(AuthorizeUserRoles((orgs.a_user_address,), ("ADMIN",), (), RolesPolicy.UNION), orgs.b) == "NOT_OWNER"
    ledger = orgs.chain.ledger
    assert ledger.get_contract(orgs.a_contract).state == AccountState.NORMAL
    assert ledger.get_contract(orgs.a_contract).version == 1
    assert ledger.get_account(orgs.a_user_address).state == AccountState.NORMAL


def test_b_alone_cannot_act_ledger_wide(orgs: Orgs) -> None:
    role = ConfigureRole("B_POWER", tuple(LedgerPermission), (), tuple(TransactionPermission), ())
    assert orgs.run(role, orgs.b) == "PROPOSAL_REQUIRED"
    assert orgs.run(ConfigureRole("DEFAULT", (), (LedgerPermission.WRITE_DATA_ACCOUNT,), (), ()), orgs.b) == "PROPOSAL_REQUIRED"
    assert orgs.run(UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(1)), orgs.b) == "PROPOSAL_REQUIRED"
    assert orgs.run(UpdateLedgerSettings("signature_algorithms", TypedValue.json_([0x0101])), orgs.b) == "PROPOSAL_REQUIRED"
    a_node = address_from_public_key(orgs.a.public)
    assert orgs.run(UpdateParticipantState(a_node, ParticipantState.DEACTIVATED), orgs.b) == "PROPOSAL_REQUIRED"
    assert "B_POWER" not in [role.role for role in orgs.chain.ledger.list_roles()]
    assert orgs.chain.ledger.settings.max_ops_per_tx != 1
    assert len(orgs.chain.ledger.validator_set().public_keys) == 4


def test_an_organisation_administers_its_own_objects_alone(orgs: Orgs) -> None:
    assert orgs.run(UpdateAccountState(orgs.a_contract, AccountState.FROZEN), orgs.a) == "SUCCESS"
    assert orgs.run(UpdateAccountState(orgs.a_user_address, AccountState.FROZEN), orgs.a2) == "SUCCESS"  # A's other admin
    assert orgs.run(UpdateAccountState(orgs.a_user_address, AccountState.NORMAL), orgs.a) == "SUCCESS"
    assert orgs.run(AuthorizeUserRoles((orgs.a_user_address,), ("ADMIN",), (), RolesPolicy.UNION), orgs.a) == "SUCCESS"
    # A's user (now an admin of A) registers an account: it belongs to A as well.
    pair = seeded_keypair("a-user-data")
    assert orgs.chain.statuses(orgs.chain.tx(lambda b: b.register_data_account(pair.public.encoded), orgs.a_user)) == ["SUCCESS"]
    assert orgs.chain.ledger.get_account(address_from_public_key(pair.public)).organization == "A"
    assert orgs.chain.ledger.get_contract(orgs.a_contract).state == AccountState.FROZEN


def test_signatures_of_enough_organisations_in_one_transaction_meet_the_policy(orgs: Orgs) -> None:
    """JD Chain's multi-signature transaction: the same policy as a proposal, in one step."""
    freeze = UpdateAccountState(orgs.a_contract, AccountState.FROZEN)
    # Two admins of A are still one organisation; B with C is a majority of three.
    assert orgs.run(ConfigureRole("X", (), (), (), ()), orgs.a, orgs.a2) == "PROPOSAL_REQUIRED"
    assert orgs.run(freeze, orgs.b, orgs.c) == "SUCCESS"
    assert orgs.chain.ledger.get_contract(orgs.a_contract).state == AccountState.FROZEN


def test_a_one_organisation_ledger_meets_every_threshold_alone() -> None:
    chain = make_consortium(organizations=("solo", "solo"))
    admin = chain.founders[0]
    role = ConfigureRole("AUDITOR", (), (), (TransactionPermission.DIRECT_OPERATION,), ())
    assert chain.statuses(chain.tx(lambda b: b.add(role), admin)) == ["SUCCESS"]
    assert chain.statuses(chain.tx(
        lambda b: b.add(UpdateLedgerSettings("max_ops_per_tx", TypedValue.int64(8))), admin,
    )) == ["SUCCESS"]


def test_users_without_approve_permission_do_not_count_for_their_organisation(orgs: Orgs) -> None:
    """A's plain user signing beside B does not make a majority: only a member's approver counts."""
    role = ConfigureRole("X", (), (), (), ())
    assert orgs.run(role, orgs.b, orgs.a_user) == "PROPOSAL_REQUIRED"


def test_registering_an_identity_into_another_organisation_needs_the_members(orgs: Orgs) -> None:
    """A control plane admits a new member's admin: only the members together may say who belongs to whom."""
    from ledger.types import RegisterUser

    newcomer = seeded_keypair("d-admin")
    into_a = RegisterUser(newcomer.public.encoded, "d-admin", "A")
    assert orgs.run(into_a, orgs.b) == "PROPOSAL_REQUIRED"  # B cannot plant a user inside A
    into_d = RegisterUser(newcomer.public.encoded, "d-admin", "D")
    assert orgs.run(into_d, orgs.b) == "PROPOSAL_REQUIRED"
    assert orgs.run(into_d, orgs.b, orgs.c) == "SUCCESS"
    assert orgs.chain.ledger.get_account(address_from_public_key(newcomer.public)).organization == "D"
    own = seeded_keypair("a-clerk-2")
    assert orgs.run(RegisterUser(own.public.encoded, "a-clerk-2", "A"), orgs.a2) == "SUCCESS"
