"""The ledger: codec, crypto, execution, Merkle trees and storage (consensus-critical, deterministic)."""

from ledger import _accel

_accel.install()  # the compiled build of the hot modules, if current (see ledger._accel); same results either way
