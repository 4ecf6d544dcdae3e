"""API keys as the accounts module makes them: usable on any command line, strong enough, hashed."""

from __future__ import annotations

import argparse

from sysvmdiag.accounts import API_KEY_PREFIX, check_api_key_strength, generate_api_key


def test_a_generated_key_never_reads_as_a_command_line_option() -> None:
    """A key starting with "-" broke `--key KEY` for argparse (seen in CI: one run in 64 or so)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--key")
    for _ in range(500):
        key = generate_api_key()
        assert key.startswith(API_KEY_PREFIX) and not key.startswith("-")
        assert parser.parse_args(["--key", key]).key == key
        check_api_key_strength(key)
    assert len({generate_api_key() for _ in range(100)}) == 100
