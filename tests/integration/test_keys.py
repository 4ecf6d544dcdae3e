"""The private key: parsed in memory from every format we accept, fetched from Secrets Manager (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import boto3
import paramiko
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider, constants
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sysvmdiag.runner import key_fingerprint, load_private_key, parse_private_key


def _private_text(private_key, fmt: serialization.PrivateFormat) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _public_blob(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        .split()[1]
    )


@pytest.mark.parametrize(
    ("make", "fmt", "expected"),
    [
        (ed25519.Ed25519PrivateKey.generate, serialization.PrivateFormat.OpenSSH, paramiko.Ed25519Key),
        (ed25519.Ed25519PrivateKey.generate, serialization.PrivateFormat.PKCS8, paramiko.Ed25519Key),
        (
            lambda: ec.generate_private_key(ec.SECP256R1()),
            serialization.PrivateFormat.OpenSSH,
            paramiko.ECDSAKey,
        ),
        (
            lambda: ec.generate_private_key(ec.SECP256R1()),
            serialization.PrivateFormat.TraditionalOpenSSL,
            paramiko.ECDSAKey,
        ),
        (lambda: rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.OpenSSH, paramiko.RSAKey),
        (
            lambda: rsa.generate_private_key(65537, 2048),
            serialization.PrivateFormat.TraditionalOpenSSL,
            paramiko.RSAKey,
        ),
        (lambda: rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.PKCS8, paramiko.RSAKey),
    ],
    ids=[
        "ed25519-openssh",
        "ed25519-pkcs8",
        "ecdsa-openssh",
        "ecdsa-pem",
        "rsa-openssh",
        "rsa-pem",
        "rsa-pkcs8",
    ],
)
def test_parse_private_key_detects_type_and_keeps_the_key(make, fmt, expected) -> None:
    private = make()
    key = parse_private_key(_private_text(private, fmt))
    assert type(key) is expected
    assert key.can_sign()
    # The parsed key is the same key: its public half matches what cryptography says.
    assert key.get_base64() == _public_blob(private)


def test_parse_private_key_accepts_bytes_and_a_json_secret() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    text = _private_text(private, serialization.PrivateFormat.OpenSSH)
    from_bytes = parse_private_key(text.encode())
    from_json = parse_private_key(json.dumps({"private_key": text}))
    assert from_bytes.get_base64() == from_json.get_base64() == _public_blob(private)


def test_parse_private_key_rejects_what_is_not_a_key() -> None:
    with pytest.raises(ValueError, match="not an OpenSSH or PEM private key"):
        parse_private_key("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")
    public_only = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    with pytest.raises(ValueError):
        parse_private_key(public_only)


def test_runner_errors_import_without_paramiko() -> None:
    """The API imports RunnerError on every request; paramiko must load only when SSH is used."""
    code = (
        "import sys\n"
        "from sysvmdiag.runner import RunnerError, RunOutput\n"
        "assert 'paramiko' not in sys.modules, 'paramiko imported eagerly'\n"
        "from sysvmdiag.runner import BastionRunner\n"
        "assert 'paramiko' in sys.modules\n"
        "err = RunnerError('TIMEOUT', 'The run on the system VM at 169.254.1.10:3922 timed out.')\n"
        "assert err.code == 'TIMEOUT' and str(err) == err.message\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# -- Secrets Manager on the embedded moto server ----------------------------------------------


class _WriteWatcher:
    """Records every open-for-writing made by the watching thread (audit hooks cannot be removed)."""

    _installed = False
    _active: dict[int, list[str]] = {}
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        record = cls._active.get(threading.get_ident())
        if record is None:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & cls._WRITE_FLAGS
            )
            if writing:
                record.append(str(path))
        elif event in ("os.rename", "os.link", "os.symlink", "shutil.copyfile"):
            record.append(f"{event} {args}")

    def __enter__(self) -> list[str]:
        if not _WriteWatcher._installed:
            sys.addaudithook(_WriteWatcher._hook)
            _WriteWatcher._installed = True
        self.record: list[str] = []
        _WriteWatcher._active[threading.get_ident()] = self.record
        return self.record

    def __exit__(self, *exc: object) -> None:
        _WriteWatcher._active.pop(threading.get_ident(), None)


@pytest.fixture
def secret_with_key(moto_server) -> Iterator[tuple[str, str, object]]:
    """A fresh secret holding a new ed25519 key; yields (name, key text, secretsmanager client)."""
    client = boto3.client("secretsmanager", endpoint_url=moto_server.endpoint_url, region_name="us-east-1")
    name = f"sysvmdiag/test/ssh-key-{uuid.uuid4().hex[:8]}"
    text = _private_text(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
    client.create_secret(Name=name, SecretString=text)
    yield name, text, client
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_load_private_key_via_powertools_get_secret_and_aws_endpoint_url(
    moto_server, secret_with_key, monkeypatch
) -> None:
    name, text, client = secret_with_key
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # powertools builds its default provider (and boto3 client) once per process, and other suites
    # may already have one on another endpoint: drop it from the shared dict (restored afterwards).
    monkeypatch.delitem(constants.DEFAULT_PROVIDERS, "secrets", raising=False)
    with _WriteWatcher() as writes:
        key = load_private_key(name, max_age=300)
    assert writes == [], f"the key path wrote files: {writes}"
    assert key.get_base64() == parse_private_key(text).get_base64()

    # Cached for max_age: a rotated secret is not fetched again until the cache expires...
    rotated = _private_text(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
    client.put_secret_value(SecretId=name, SecretString=rotated)
    assert key_fingerprint(load_private_key(name, max_age=300)) == key_fingerprint(key)
    # ...unless the caller forces a fetch.
    assert (
        load_private_key(name, max_age=300, force_fetch=True).get_base64()
        == parse_private_key(rotated).get_base64()
    )


def test_load_private_key_with_a_provider_on_our_own_client(secret_with_key) -> None:
    name, text, client = secret_with_key
    provider = SecretsProvider(boto3_client=client)
    with _WriteWatcher() as writes:
        key = load_private_key(name, provider=provider)
    assert writes == []
    assert isinstance(key, paramiko.Ed25519Key)
    assert key.get_base64() == parse_private_key(text).get_base64()


def test_write_watcher_does_notice_writes(tmp_path) -> None:
    """Guard for the guard: the watcher must see a real write, or the no-disk assertions mean nothing."""
    with _WriteWatcher() as writes:
        (tmp_path / "key").write_text("x")
    assert any(str(tmp_path / "key") in w for w in writes)
