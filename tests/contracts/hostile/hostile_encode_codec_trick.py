# expect: runtime ContractFault
# Codec names reach host codec machinery (e.g. zlib_codec).
from jadechain import contract, callable


@contract
class Hostile:
    @callable
    def attack(self) -> int:
        return len(b'x'.decode('zlib_codec'))
