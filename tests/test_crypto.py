"""Round trips and tamper detection of the crypto core, as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core import codes, crypto

KEY = crypto.random_key()
PAIR = crypto.generate_keypair()
OTHER_PAIR = crypto.generate_keypair()

aads = st.tuples(st.sampled_from(["cases_message", "cases_note"]), st.sampled_from(["body", "x"]), st.uuids()).map(
    lambda t: crypto.associated_data(*t)
)


@given(st.binary(max_size=2048), aads)
def test_symmetric_round_trip(plaintext: bytes, aad: bytes) -> None:
    assert crypto.decrypt(KEY, crypto.encrypt(KEY, plaintext, aad), aad) == plaintext


@given(st.binary(max_size=512), aads)
def test_sealed_round_trip(plaintext: bytes, aad: bytes) -> None:
    assert crypto.unseal(PAIR.private, crypto.seal(PAIR.public, plaintext, aad), aad) == plaintext


@given(st.binary(min_size=1, max_size=256), aads, st.data())
def test_any_flipped_bit_is_detected(plaintext: bytes, aad: bytes, data: st.DataObject) -> None:
    for blob, opener in (
        (crypto.encrypt(KEY, plaintext, aad), lambda b: crypto.decrypt(KEY, b, aad)),
        (crypto.seal(PAIR.public, plaintext, aad), lambda b: crypto.unseal(PAIR.private, b, aad)),
    ):
        index = data.draw(st.integers(0, len(blob) - 1))
        bit = data.draw(st.integers(0, 7))
        tampered = bytearray(blob)
        tampered[index] ^= 1 << bit
        with pytest.raises(crypto.DecryptionError):
            opener(bytes(tampered))


@given(st.binary(max_size=256), st.uuids(), st.uuids())
def test_a_ciphertext_moved_to_another_row_does_not_open(plaintext: bytes, row_a: object, row_b: object) -> None:
    if row_a == row_b:
        return
    aad_a = crypto.associated_data("cases_message", "body_sealed", row_a)
    aad_b = crypto.associated_data("cases_message", "body_sealed", row_b)
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(PAIR.private, crypto.seal(PAIR.public, plaintext, aad_a), aad_b)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(KEY, crypto.encrypt(KEY, plaintext, aad_a), aad_b)


def test_a_ciphertext_moved_to_another_field_does_not_open() -> None:
    row = "7d7c1d3c-0000-4000-8000-000000000000"
    blob = crypto.seal(PAIR.public, b"x", crypto.associated_data("cases_note", "body_sealed", row))
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(PAIR.private, blob, crypto.associated_data("cases_answer", "value_sealed", row))


def test_the_wrong_private_key_cannot_unseal() -> None:
    aad = crypto.associated_data("t", "f", 1)
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(OTHER_PAIR.private, crypto.seal(PAIR.public, b"secret", aad), aad)


def test_truncated_or_foreign_blobs_are_refused_cleanly() -> None:
    aad = crypto.associated_data("t", "f", 1)
    for junk in (b"", b"\x01", b"\x02" * 10, b"\xff" * 200, crypto.encrypt(KEY, b"x", aad)):
        with pytest.raises(crypto.DecryptionError):
            crypto.unseal(PAIR.private, junk, aad)


@settings(max_examples=3, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_password_wrap_round_trip_and_wrong_password(password: str) -> None:
    aad = b"wrap"
    wrap = crypto.wrap_with_password(b"k" * 32, password, aad)
    assert wrap.memlimit >= 64 * 1024 * 1024
    assert crypto.unwrap_with_password(wrap, password, aad) == b"k" * 32
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_password(wrap, password + "x", aad)


def test_argon2_below_64_mib_is_refused() -> None:
    with pytest.raises(ValueError, match="64 MiB"):
        crypto.wrap_with_password(b"k" * 32, "pw", b"", memlimit=32 * 1024 * 1024)


@given(st.text(max_size=64), st.text(max_size=64))
def test_blind_index_is_deterministic_and_separates_domains(a: str, b: str) -> None:
    assert crypto.blind_index(KEY, "channel:telegram", a) == crypto.blind_index(KEY, "channel:telegram", a)
    assert crypto.blind_index(KEY, "channel:telegram", a) != crypto.blind_index(KEY, "channel:phone", a)
    if a != b:
        assert crypto.blind_index(KEY, "d", a) != crypto.blind_index(KEY, "d", b)
    assert crypto.blind_index(KEY, "d", a) != crypto.blind_index(crypto.random_key(), "d", a)


# --- human codes (recovery key; receipts build on the same) ------------------------------------


@given(st.data())
def test_a_code_survives_case_spaces_dashes_and_lookalikes(data: st.DataObject) -> None:
    code = codes.new_recovery_key()
    typed = codes.group(
        code,
        data.draw(st.integers(1, 8)),
    )
    typed = typed.lower() if data.draw(st.booleans()) else typed
    typed = typed.replace("0", "o").replace("1", "l") if data.draw(st.booleans()) else typed
    typed = typed.replace("-", " ")
    assert codes.parse_recovery_key(typed) == code


@given(st.data())
def test_any_single_mistyped_character_is_caught(data: st.DataObject) -> None:
    code = codes.new_recovery_key()
    index = data.draw(st.integers(0, len(code) - 2))
    replacement = data.draw(st.sampled_from([c for c in codes.ALPHABET if c != code[index]]))
    with pytest.raises(codes.CodeError):
        codes.parse_recovery_key(code[:index] + replacement + code[index + 1 :])


def test_recovery_key_has_at_least_256_bits() -> None:
    assert len(codes.to_bytes(codes.new_recovery_key())) >= 32


def test_receipts_carry_80_bits_in_the_dictation_alphabet_and_survive_retyping() -> None:
    from hotline.core import receipts

    receipt = receipts.new_receipt()
    assert len(receipt) == 17 and set(receipt) <= set(codes.ALPHABET)
    assert len(codes.to_bytes(receipt)) == 10  # 16 digits x 5 bits = 80 bits
    shown = receipts.display(receipt)
    assert receipts.parse_receipt(f"  {shown.lower().replace('-', ' ').replace('0', 'o')} ") == receipt
    assert not receipts.looks_like_receipt("hello, I want to surrender")
    assert not receipts.looks_like_receipt(receipt[:-1] + ("1" if receipt[-1] != "1" else "2"))


@given(st.data())
def test_most_swapped_neighbours_are_caught(data: st.DataObject) -> None:
    caught = 0
    for _ in range(20):
        code = codes.new_recovery_key()
        i = data.draw(st.integers(0, len(code) - 3))
        if code[i] == code[i + 1]:
            caught += 1
            continue
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        try:
            codes.parse_recovery_key(swapped)
        except codes.CodeError:
            caught += 1
    assert caught >= 18
