"""CloudStack's request signature: a published vector, another client's vectors, tampering, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sysvmdiag.cloudstack.signing import (
    encode_value,
    parse_expires,
    sign,
    signature_matches,
    signature_problem,
    signed_params,
    string_to_sign,
)

# CloudStack's own documentation, "How to sign an API call with Python"
# (docs/en-US/signing-api-calls-python.xml, CLOUDSTACK-2338): listUsers with these keys signs to
# TTpdDq/7j/J58XCRHomKoQXEQds=.
DOCS_API_KEY = "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg"
DOCS_SECRET = "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ"
DOCS_PARAMS = {"command": "listUsers", "response": "json", "apikey": DOCS_API_KEY}

# Signatures computed by the exoscale `cs` client (5.2.0, CloudStack._sign), installed in a scratch venv,
# for values that need encoding: spaces, reserved characters, non-ASCII, a mixed-case parameter name.
CS_SECRET = "s3cr3t-Key_with.chars"
CS_VECTORS = [
    (
        {
            "command": "listNetworks",
            "zoneid": "4b1d5c2e-7a0f",
            "keyword": "a b+c&d=e/f*g",
            "page": "2",
            "pagesize": "500",
            "apikey": "KEY",
        },
        "ICkjW1fdIDmeQjRKHpu+hMdFF1c=",
    ),
    (
        {
            "command": "listAccounts",
            "name": "Zo\u00eb \u00dcn\u00efc\u00f8d\u00e9 \u540d\u524d",
            "listall": "true",
            "response": "json",
            "apikey": "KEY",
        },
        "bnbfRwLByk7XGdCuaMvcA0y3+u8=",
    ),
    (
        {
            "command": "listVPCs",
            "keyword": "!'()@#$%^;:,?[]{}|\\\"<>`",
            "signatureVersion": "3",
            "expires": "2026-12-01T05:08:37+0000",
            "apikey": "KEY",
        },
        "a93Fw6nW4Mgtsfezs75/FCwBhIA=",
    ),
]
NOW = datetime(2026, 12, 1, 5, 8, 37, tzinfo=UTC)


def test_the_documented_example_signs_as_the_docs_say() -> None:
    assert string_to_sign(DOCS_PARAMS) == (
        "apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edm-kaymmailqzzq1elzlyq_u38zcm0bewzgudp66mg"
        "&command=listusers&response=json"
    )
    assert sign(DOCS_PARAMS, DOCS_SECRET) == "TTpdDq/7j/J58XCRHomKoQXEQds="
    assert signature_matches({**DOCS_PARAMS, "signature": "TTpdDq/7j/J58XCRHomKoQXEQds="}, DOCS_SECRET)


@pytest.mark.parametrize(("params", "expected"), CS_VECTORS)
def test_signatures_agree_with_the_cs_client(params: dict[str, str], expected: str) -> None:
    assert sign(params, CS_SECRET) == expected
    assert signature_matches({**params, "signature": expected}, CS_SECRET, now=NOW - timedelta(seconds=1))


def test_values_are_encoded_as_javas_urlencoder_with_spaces_as_percent_20() -> None:
    assert encode_value("a b") == "a%20b"
    assert encode_value("a+b") == "a%2Bb"
    assert encode_value("-_.*") == "-_.*"  # the characters URLEncoder leaves as they are
    assert encode_value("~") == "%7E"  # URLEncoder encodes it; Python's quote would not
    assert encode_value("/=&") == "%2F%3D%26"
    assert encode_value("\u00e9") == "%C3%A9"


def test_the_signature_parameter_is_left_out_whatever_its_case() -> None:
    signature = sign(DOCS_PARAMS, DOCS_SECRET)
    assert sign({**DOCS_PARAMS, "Signature": "anything"}, DOCS_SECRET) == signature
    assert signature_matches({**DOCS_PARAMS, "SIGNATURE": signature}, DOCS_SECRET)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "command": "listAccounts"},
        lambda p: {**p, "listall": "true"},
        lambda p: {k: v for k, v in p.items() if k != "response"},
        lambda p: {**p, "signature": p["signature"].swapcase()},
        lambda p: {**p, "signature": ""},
        lambda p: {k: v for k, v in p.items() if k != "signature"},
    ],
)
def test_a_changed_request_no_longer_matches(tamper) -> None:
    signed = {**DOCS_PARAMS, "signature": sign(DOCS_PARAMS, DOCS_SECRET)}
    assert signature_matches(signed, DOCS_SECRET)
    assert not signature_matches(tamper(signed), DOCS_SECRET)


def test_another_secret_does_not_match() -> None:
    signed = {**DOCS_PARAMS, "signature": sign(DOCS_PARAMS, DOCS_SECRET)}
    assert signature_problem(signed, DOCS_SECRET[:-1] + "R") == "signature does not match"


def test_values_differing_only_in_case_share_a_signature_as_in_cloudstack() -> None:
    """The signed string is lowercased whole: CloudStack's scheme cannot tell these apart."""
    assert sign({**DOCS_PARAMS, "keyword": "Web"}, DOCS_SECRET) == sign(
        {**DOCS_PARAMS, "keyword": "web"}, DOCS_SECRET
    )


def test_signed_params_add_the_key_the_expiry_and_the_signature() -> None:
    signed = signed_params(
        {"command": "listZones"}, "KEY", "SECRET", expires_in=timedelta(minutes=10), now=NOW
    )
    assert signed["apikey"] == "KEY"
    assert signed["signatureversion"] == "3"
    assert signed["expires"] == "2026-12-01T05:18:37+0000"
    assert signed["signature"] == sign(signed, "SECRET")


def test_an_expiring_signature_holds_until_it_expires() -> None:
    signed = signed_params(
        {"command": "listZones"}, "KEY", "SECRET", expires_in=timedelta(minutes=10), now=NOW
    )
    assert signature_matches(signed, "SECRET", now=NOW + timedelta(minutes=9, seconds=59))
    assert signature_problem(signed, "SECRET", now=NOW + timedelta(minutes=10, seconds=1)) == (
        "expired at 2026-12-01T05:18:37+0000"
    )


def test_the_expiry_is_signed_too() -> None:
    signed = signed_params(
        {"command": "listZones"}, "KEY", "SECRET", expires_in=timedelta(minutes=1), now=NOW
    )
    extended = {**signed, "expires": "2027-01-01T00:00:00+0000"}
    assert signature_problem(extended, "SECRET", now=NOW) == "signature does not match"


def test_version_3_needs_a_readable_expiry() -> None:
    base = {"command": "listZones", "apikey": "KEY", "signatureversion": "3"}
    assert signature_problem({**base, "signature": sign(base, "S")}, "S", now=NOW) == (
        "signatureversion 3 without expires"
    )
    naive = {**base, "expires": "2026-12-01T06:00:00"}
    problem = signature_problem({**naive, "signature": sign(naive, "S")}, "S", now=NOW)
    assert problem is not None and "UTC offset" in problem


def test_without_version_3_an_expires_parameter_is_only_signed_not_enforced() -> None:
    """As CloudStack: the expiry is checked only when signatureversion is 3."""
    base = {"command": "listZones", "apikey": "KEY", "expires": "2000-01-01T00:00:00+0000"}
    assert signature_matches({**base, "signature": sign(base, "S")}, "S", now=NOW)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T05:08:37+0000",  # CloudStack's own format (and the cs client's)
        "2026-12-01T05:08:37+00:00",
        "2026-12-01T05:08:37Z",
        "2026-12-01T05:08:37.000000Z",
        "2026-12-01T06:08:37+0100",
        "2026-12-01T05:08:37Z+0000",  # DateUtil's legacy pattern
    ],
)
def test_expiry_formats_cloudstack_reads(text: str) -> None:
    assert parse_expires(text) == NOW


def test_an_expiry_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        parse_expires("2026-12-01T05:08:37")


def _libcloud_signature(params: dict[str, str], secret: str) -> str:
    """libcloud 3.9's CloudStackConnection._make_signature, restated: lowercased names sorted, values
    quoted with ``[]*`` kept, the whole string lowercased."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote

    pairs = sorted((name.lower(), value) for name, value in params.items())
    text = "&".join(f"{quote(name, safe='[]')}={quote(value, safe='[]*')}" for name, value in pairs)
    digest = hmac.new(secret.encode(), text.lower().replace("+", "%20").encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_libcloud_s_form_is_accepted_and_still_covers_every_value() -> None:
    """Names sorted lowercased (``apiKey`` before ``Zone``, not after) and ``[``, ``]``, ``~`` unencoded:
    accepted; the same signature on a changed value is not."""
    params = {"command": "listRouters", "apiKey": "k", "Zone": "z", "tags[0].key": "a~b", "response": "json"}
    signed = {**params, "signature": _libcloud_signature(params, CS_SECRET)}
    assert string_to_sign(params) != string_to_sign(params, order=str.lower)
    assert signature_problem(signed, CS_SECRET) is None
    assert signature_problem({**signed, "Zone": "y"}, CS_SECRET) == "signature does not match"


def test_cmk_s_form_is_accepted_go_s_query_escape_encodes_the_star() -> None:
    """cmk (Go) sorts the names as sent and escapes values with url.QueryEscape, which encodes ``*``
    (Java keeps it) and keeps ``~`` (Java encodes it), spaces as ``+`` then ``%20``."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote_plus

    params = {"command": "listRouters", "response": "json", "apiKey": "k", "keyword": "r-* ~x y"}
    text = "&".join(f"{name}={quote_plus(params[name], safe='')}" for name in sorted(params))
    text = text.lower().replace("+", "%20")
    digest = hmac.new(CS_SECRET.encode(), text.encode(), hashlib.sha1).digest()
    signed = {**params, "signature": base64.b64encode(digest).decode()}
    assert signature_problem(signed, CS_SECRET) is None
    assert signature_problem({**signed, "keyword": "r-* ~x z"}, CS_SECRET) == "signature does not match"
