"""OpenSSH signatures (``ssh-keygen -Y sign``'s SSHSIG format) made and checked in-process.

git signs commits this way with ``gpg.format=ssh``: the armored signature goes into the commit's
``gpgsig`` header, and ``git verify-commit`` hands it to ``ssh-keygen -Y verify`` with an
allowed-signers file. docctl writes the same bytes without a key file on disk (a person's key
exists in clear only in memory, for one signature) and checks 240,000 of them without a process
each. The format is OpenSSH's PROTOCOL.sshsig; only Ed25519 keys and SHA-512 are used. Keys and
signatures come from ``cryptography`` (OpenSSL); checking uses libsodium through PyNaCl, twice as
fast here.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from .errors import Invalid

MAGIC = b"SSHSIG"
NAMESPACE = "git"
KEY_TYPE = b"ssh-ed25519"
HASH = b"sha512"
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"


class BadSignature(Exception):
    """A signature that does not parse, is not Ed25519/SHA-512 or does not match its data."""


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(data: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(data):
        raise BadSignature("truncated signature")
    (length,) = struct.unpack_from(">I", data, at)
    end = at + 4 + length
    if end > len(data):
        raise BadSignature("truncated signature")
    return data[at + 4 : end], end


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_line(key: Ed25519PublicKey) -> str:
    """``ssh-ed25519 AAAA…``, as in ``authorized_keys`` and allowed-signers files."""
    blob = _string(KEY_TYPE) + _string(raw_public_key(key))
    return f"{KEY_TYPE.decode()} {base64.b64encode(blob).decode()}"


def raw_key_of_line(line: str) -> bytes:
    """The 32 raw bytes of an ``ssh-ed25519 AAAA…`` public key (Invalid for anything else)."""
    try:
        kind, text = line.split()[:2]
        blob = base64.b64decode(text, validate=True)
        name, at = _read_string(blob, 0)
        raw, at = _read_string(blob, at)
    except (ValueError, BadSignature):
        raise Invalid("not an ssh-ed25519 public key: %(line)s", line=line[:40]) from None
    if kind != KEY_TYPE.decode() or name != KEY_TYPE or len(raw) != 32 or at != len(blob):
        raise Invalid("not an ssh-ed25519 public key: %(line)s", line=line[:40])
    return raw


def fingerprint(raw: bytes) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it."""
    blob = _string(KEY_TYPE) + _string(raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _signed_data(message: bytes, namespace: str) -> bytes:
    return (
        MAGIC + _string(namespace.encode()) + _string(b"") + _string(HASH) + _string(hashlib.sha512(message).digest())
    )


def sign(key: Ed25519PrivateKey, message: bytes, namespace: str = NAMESPACE) -> str:
    """The armored signature of ``message``, as ``ssh-keygen -Y sign -n NAMESPACE`` writes it."""
    signature = key.sign(_signed_data(message, namespace))
    blob = (
        MAGIC
        + struct.pack(">I", 1)
        + _string(_string(KEY_TYPE) + _string(raw_public_key(key.public_key())))
        + _string(namespace.encode())
        + _string(b"")
        + _string(HASH)
        + _string(_string(KEY_TYPE) + _string(signature))
    )
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def verify(armored: str, message: bytes, namespace: str = NAMESPACE) -> bytes:
    """The raw public key that made ``armored`` over ``message``; BadSignature otherwise.

    Who that key belongs to, and whether it was valid then, is the allowed-signers file's word
    (:mod:`docctl.core.allowed_signers`), as for ``ssh-keygen -Y verify``.
    """
    lines = armored.strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != BEGIN or lines[-1].strip() != END:
        raise BadSignature("not an SSH signature")
    try:
        blob = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except ValueError:
        raise BadSignature("not an SSH signature") from None
    if blob[:6] != MAGIC or blob[6:10] != struct.pack(">I", 1):
        raise BadSignature("not an SSHSIG version 1 signature")
    public, at = _read_string(blob, 10)
    space, at = _read_string(blob, at)
    _reserved, at = _read_string(blob, at)
    hash_name, at = _read_string(blob, at)
    signature, at = _read_string(blob, at)
    key_type, key_at = _read_string(public, 0)
    raw, _ = _read_string(public, key_at)
    sig_type, sig_at = _read_string(signature, 0)
    sig, _ = _read_string(signature, sig_at)
    if key_type != KEY_TYPE or sig_type != KEY_TYPE or len(raw) != 32:
        raise BadSignature("not an Ed25519 signature")
    if hash_name != HASH or space != namespace.encode():
        raise BadSignature(f"signature for namespace {space.decode(errors='replace')} with {hash_name.decode()}")
    try:
        # libsodium's Ed25519 (PyNaCl) checks in ~54 us what OpenSSL's takes ~105 us for on this
        # machine: half of verify's signature pass over 240,000 commits (issue 29).
        crypto_sign_open(sig + _signed_data(message, namespace), raw)
    except (BadSignatureError, ValueError, TypeError):
        raise BadSignature("the signature does not match the commit") from None
    return raw
