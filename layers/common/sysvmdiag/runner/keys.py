"""The runner's SSH private key: fetched from Secrets Manager, parsed in memory, never on disk."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# How long a warm Lambda keeps the fetched secret before asking Secrets Manager again.
DEFAULT_SECRET_MAX_AGE_SECONDS = 300  # the composition root passes Settings.ssh_key_max_age_seconds


def parse_private_key(text: str | bytes, password: str | None = None) -> paramiko.PKey:
    """Turn an OpenSSH or PEM private key (Ed25519, ECDSA or RSA) into a paramiko key, in memory.

    The secret may also be a JSON object with a ``private_key`` field, as Secrets Manager
    key/value secrets usually are.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    text = text.strip()
    if text.startswith("{"):
        text = str(json.loads(text)["private_key"]).strip()
    data = text.encode("utf-8")
    secret = password.encode("utf-8") if password is not None else None
    # Detect the key type like paramiko's PKey.from_path does, without a file.
    try:
        loaded = serialization.load_ssh_private_key(data, password=secret)
    except ValueError:
        try:
            loaded = serialization.load_pem_private_key(data, password=secret)
        except (ValueError, TypeError) as exc:
            raise ValueError("the SSH private key secret is not an OpenSSH or PEM private key") from exc
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise ValueError(f"unsupported SSH private key type {type(loaded).__name__}")
    # Re-encode in memory as an unencrypted OpenSSH key, the one format every paramiko key class
    # reads (PKCS#8 and encrypted inputs included).
    openssh = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    return key_class.from_private_key(io.StringIO(openssh))


def key_fingerprint(key: paramiko.PKey) -> str:
    """The OpenSSH-style SHA256 fingerprint, used to key the connection cache."""
    return key.fingerprint


def load_private_key(
    secret_name: str,
    max_age: int = DEFAULT_SECRET_MAX_AGE_SECONDS,
    provider: SecretsProvider | None = None,
    force_fetch: bool = False,
) -> paramiko.PKey:
    """Fetch the key from Secrets Manager through powertools (cached ``max_age`` seconds) and parse it.

    The endpoint comes from boto3's own configuration (``AWS_ENDPOINT_URL`` locally); pass a
    ``SecretsProvider`` built on your own boto3 client to override it. ``force_fetch`` skips the
    cache (after a rotation).
    """
    from aws_lambda_powertools.utilities import parameters

    if provider is not None:
        value = provider.get(secret_name, max_age=max_age, force_fetch=force_fetch)
    else:
        value = parameters.get_secret(secret_name, max_age=max_age, force_fetch=force_fetch)
    if value is None:
        raise ValueError(f"secret {secret_name} holds no SSH private key")
    if isinstance(value, dict):
        value = json.dumps(value)
    return parse_private_key(value)


def obtain_private_key(key_loader: Callable[[], paramiko.PKey]) -> paramiko.PKey:
    """The key ``key_loader`` loads; any failure (secret missing, Secrets Manager unreachable, not a
    key) is a RunnerError SSH_KEY_UNAVAILABLE, so callers answer and audit it like any failed run."""
    try:
        return key_loader()
    except Exception as exc:  # any loader failure means the same thing: no key, so nothing can run
        raise RunnerError(
            RunnerErrorCode.SSH_KEY_UNAVAILABLE,
            f"The runner's SSH key could not be loaded ({type(exc).__name__}: {exc}); nothing ran.",
        ) from exc
