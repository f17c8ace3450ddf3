"""Cost of the crypto on the hot path, against a baseline measured in the same run.

Prints one JSON object: per-operation microseconds for sealing/opening a 1 KiB message, the blind
index and transport encryption, each with its ratio to SHA-256 of the same 1 KiB (the baseline), and
the Argon2id unlock time (it runs once per staff login).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from hotline.core import crypto

PAYLOAD = b"x" * 1024


def per_op_us(fn: Callable[[], object], min_seconds: float = 0.3) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        for _ in range(50):
            fn()
        n += 50
    return elapsed / n * 1e6


def main() -> None:
    pair = crypto.generate_keypair()
    key = crypto.random_key()
    aad = crypto.associated_data("cases_message", "body_sealed", "00000000-0000-4000-8000-000000000000")
    sealed = crypto.seal(pair.public, PAYLOAD, aad)
    encrypted = crypto.encrypt(key, PAYLOAD, aad)
    baseline = per_op_us(lambda: hashlib.sha256(PAYLOAD).digest())
    results = {
        "seal_1k": per_op_us(lambda: crypto.seal(pair.public, PAYLOAD, aad)),
        "unseal_1k": per_op_us(lambda: crypto.unseal(pair.private, sealed, aad)),
        "transport_encrypt_1k": per_op_us(lambda: crypto.encrypt(key, PAYLOAD, aad)),
        "transport_decrypt_1k": per_op_us(lambda: crypto.decrypt(key, encrypted, aad)),
        "blind_index": per_op_us(lambda: crypto.blind_index(key, "channel:telegram", "123456789")),
        "case_keypair": per_op_us(crypto.generate_keypair),
    }
    start = time.perf_counter()
    wrap = crypto.wrap_with_password(pair.private, "a long staff password", b"bench")
    crypto.unwrap_with_password(wrap, "a long staff password", b"bench")
    argon_ms = (time.perf_counter() - start) / 2 * 1000
    print(
        json.dumps(
            {
                "benchmark": "crypto",
                "baseline_sha256_1k_us": round(baseline, 2),
                "operations_us": {k: round(v, 2) for k, v in results.items()},
                "ratio_to_baseline": {k: round(v / baseline, 1) for k, v in results.items()},
                "argon2id_64mib_ms": round(argon_ms, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
