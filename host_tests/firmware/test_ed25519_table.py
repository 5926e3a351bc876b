"""crypto.ed25519_table: every constant entry recomputed with the RFC 8032 reference
arithmetic (crypto.ed25519_ref), independently of the verifier that uses it."""
from crypto import ed25519_ref as ref
from crypto.ed25519_table import BASE_MULTIPLES


def test_table_holds_the_affine_odd_multiples_of_the_base_point():
    assert len(BASE_MULTIPLES) == 32 * 96
    double_g = ref.point_add(ref.G, ref.G)
    point = ref.G
    for j in range(32):  # entry j is (2j + 1)B
        x, y, z, _ = point
        zinv = ref.modp_inv(z)
        x, y = x * zinv % ref.p, y * zinv % ref.p
        expected = ((y + x) % ref.p).to_bytes(32, "little") \
            + ((y - x) % ref.p).to_bytes(32, "little") \
            + (2 * ref.d * x * y % ref.p).to_bytes(32, "little")
        assert BASE_MULTIPLES[96 * j:96 * j + 96] == expected, "%dB" % (2 * j + 1)
        point = ref.point_add(point, double_g)


def test_table_is_one_constant_not_built_at_import():
    # a bytes literal: frozen or in ROMFS it stays in flash, from .mpy it is one block
    assert isinstance(BASE_MULTIPLES, bytes)
