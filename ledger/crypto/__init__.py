"""All cryptography of the ledger behind one import: algorithms, hashes, keys, addresses.

Everything hashed or signed on a Jadechain ledger goes through this package, so the rules
(which algorithms exist, their wire codes, raw formats and checks) can be audited in one
place. The heavy lifting is native code: OpenSSL (hashlib, cryptography), Tongsuo (tongsuopy)
for SM2/SM4 and libsodium (PyNaCl) for Ed25519.
"""

from ledger.crypto.address import (
    Address,
    address_from_public_key,
    decode_address,
    validate_address,
)
from ledger.crypto.batch import shutdown_verify_pool, verify_batch
from ledger.crypto.encoding import (
    decode_crypto_bytes,
    encode_crypto_bytes,
    from_base58,
    to_base58,
)
from ledger.crypto.hashing import hash_digest, hash_raw, hasher
from ledger.crypto.keys import (
    KeyPair,
    PrivateKey,
    PublicKey,
    decode_signature,
    generate_keypair,
    keypair_from_private,
    sign,
    verify,
)
from ledger.crypto.keystore import (
    decrypt_private_key,
    encrypt_private_key,
    load_keypair,
    load_keystore,
    save_keypair,
    save_keystore,
)
from ledger.crypto.registry import (
    AES_GCM,
    ECDSA_P256,
    ED25519,
    ENCRYPTION,
    HASH,
    RANDOM,
    RIPEMD160,
    SHA256,
    SIGNATURE,
    SM2,
    SM3,
    SM4,
    CryptoAlgorithm,
    algorithm_by_code,
    algorithm_by_name,
)
from ledger.crypto.symmetric import (
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

__all__ = [
    "AES_GCM",
    "ECDSA_P256",
    "ED25519",
    "ENCRYPTION",
    "HASH",
    "RANDOM",
    "RIPEMD160",
    "SHA256",
    "SIGNATURE",
    "SM2",
    "SM3",
    "SM4",
    "Address",
    "CryptoAlgorithm",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "address_from_public_key",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "algorithm_by_code",
    "algorithm_by_name",
    "decode_address",
    "decode_crypto_bytes",
    "decode_signature",
    "decrypt_private_key",
    "encode_crypto_bytes",
    "encrypt_private_key",
    "from_base58",
    "generate_keypair",
    "hash_digest",
    "hash_raw",
    "hasher",
    "keypair_from_private",
    "load_keypair",
    "load_keystore",
    "save_keypair",
    "save_keystore",
    "shutdown_verify_pool",
    "sign",
    "sm4_cbc_decrypt",
    "sm4_cbc_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
    "to_base58",
    "validate_address",
    "verify",
    "verify_batch",
]
