"""The key parser and loader with a stand-in secrets provider, the errors, the lazy package: no AWS."""

from __future__ import annotations

import json

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

import sysvmdiag.runner as runner_package
from sysvmdiag.runner import (
    RunnerError,
    RunnerErrorCode,
    key_fingerprint,
    load_private_key,
    parse_private_key,
)


def _text(private, fmt=serialization.PrivateFormat.OpenSSH, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


@pytest.mark.parametrize(
    ("private", "fmt", "expected"),
    [
        (ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH, paramiko.Ed25519Key),
        (ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8, paramiko.ECDSAKey),
        (
            rsa.generate_private_key(65537, 2048),
            serialization.PrivateFormat.TraditionalOpenSSL,
            paramiko.RSAKey,
        ),
    ],
)
def test_every_accepted_format_becomes_a_paramiko_key(private, fmt, expected) -> None:
    key = parse_private_key(_text(private, fmt))
    assert isinstance(key, expected)
    assert key_fingerprint(key) == key.fingerprint and key.fingerprint.startswith("SHA256:")


def test_bytes_json_and_encrypted_secrets_are_read() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    plain = parse_private_key(_text(private))
    assert parse_private_key(_text(private).encode()) == plain
    assert parse_private_key(json.dumps({"private_key": _text(private)})) == plain
    encrypted = _text(private, serialization.PrivateFormat.PKCS8, b"secret")
    assert parse_private_key(encrypted, password="secret") == plain


def test_what_is_not_a_supported_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not an OpenSSH or PEM private key"):
        parse_private_key("-----BEGIN NOTHING-----")
    dsa_pem = _text(dsa.generate_private_key(2048), serialization.PrivateFormat.PKCS8)
    with pytest.raises(ValueError, match="unsupported SSH private key type"):
        parse_private_key(dsa_pem)


class _Provider:
    """The part of powertools' SecretsProvider the loader uses."""

    def __init__(self, value) -> None:
        self.value = value
        self.asked: list[tuple[str, int, bool]] = []

    def get(self, name: str, max_age: int, force_fetch: bool):
        self.asked.append((name, max_age, force_fetch))
        return self.value


def test_the_loader_parses_what_the_provider_holds() -> None:
    text = _text(ed25519.Ed25519PrivateKey.generate())
    provider = _Provider({"private_key": text})
    key = load_private_key("ssh-key", max_age=7, provider=provider, force_fetch=True)  # type: ignore[arg-type]
    assert key == parse_private_key(text) and provider.asked == [("ssh-key", 7, True)]
    with pytest.raises(ValueError, match="secret empty holds no SSH private key"):
        load_private_key("empty", provider=_Provider(None))  # type: ignore[arg-type]


def test_the_loader_defaults_to_powertools_get_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    text = _text(ed25519.Ed25519PrivateKey.generate())
    asked: list[str] = []
    monkeypatch.setattr(parameters, "get_secret", lambda name, **_: asked.append(name) or text)
    assert load_private_key("ssh-key") == parse_private_key(text) and asked == ["ssh-key"]


def test_a_runner_error_is_its_sentence_with_a_typed_code() -> None:
    error = RunnerError("TIMEOUT", "The run on the system VM at 169.254.1.10:3922 timed out.")
    assert error.code is RunnerErrorCode.TIMEOUT
    assert str(error) == "The run on the system VM at 169.254.1.10:3922 timed out."
    assert repr(error) == "RunnerError('TIMEOUT', 'The run on the system VM at 169.254.1.10:3922 timed out.')"


def test_the_package_loads_its_ssh_parts_lazily_and_knows_no_others() -> None:
    assert runner_package.BastionRunner.__module__ == "sysvmdiag.runner.bastion"
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        runner_package.Nope  # noqa: B018
