"""Credentials of the stats and status pages: a SHA-512 crypt hash, never the password.

Controller-side. ``sha512_crypt`` implements the SHA-crypt scheme ``$6$`` that
glibc's crypt(3) reads, so HAProxy's ``userlist`` and nginx's
``auth_basic_user_file`` accept its output. It is written out here because
Python's ``crypt`` module is gone from Python 3.13 and passlib is not among
Ansible's dependencies. The salt is derived from the inputs, so the same
password renders the same file on every run (idempotent) while the hash stays
salted per host and user.
"""

from __future__ import annotations

import hashlib

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS = 5000  # the scheme's default; written without "rounds=" in the hash
# Byte order of the final digest's base-64 encoding (SHA-crypt specification, SHA-512).
_ORDER = [(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
          (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
          (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41)]


def _b64(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password: str, salt: str) -> str:
    """``$6$salt$hash`` of ``password`` (5000 rounds); ``salt`` is cut to 16 characters."""
    key, salt_bytes = password.encode(), salt[:16].encode()
    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    context = hashlib.sha512(key + salt_bytes + _repeat(alternate, len(key)))
    length = len(key)
    while length:
        context.update(alternate if length & 1 else key)
        length >>= 1
    digest = context.digest()
    p_bytes = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    s_bytes = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))
    for round_number in range(_ROUNDS):
        step = hashlib.sha512()
        step.update(p_bytes if round_number & 1 else digest)
        if round_number % 3:
            step.update(s_bytes)
        if round_number % 7:
            step.update(p_bytes)
        step.update(digest if round_number & 1 else p_bytes)
        digest = step.digest()
    encoded = "".join(_b64((digest[a] << 16) | (digest[b] << 8) | digest[c], 4) for a, b, c in _ORDER)
    return f"$6${salt[:16]}${encoded}{_b64(digest[63], 2)}"


def page_password_hash(host: str, user: str, password: str) -> str:
    """The hash a load balancer's stats or status page checks, with a salt derived per host and user."""
    seed = hashlib.sha256("\0".join((host, user, password)).encode()).digest()
    salt = "".join(_ALPHABET[byte & 0x3F] for byte in seed[:16])
    return sha512_crypt(password, salt)
