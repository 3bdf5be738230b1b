"""SASLprep (RFC 4013 3: the examples table) and its use in SCRAM key derivation."""

from __future__ import annotations

import pytest

from mailkeep.protocol.sasl.saslprep import saslprep
from mailkeep.protocol.sasl.scram import ScramSHA256Server, derive_credentials


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        ("I\u00adX", "IX"),  # SOFT HYPHEN mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # case preserved
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u2003b", "a b"),  # non-ASCII space mapped to SPACE
    ],
)
def test_rfc4013_examples(given: str, prepared: str) -> None:
    assert saslprep(given) == prepared


@pytest.mark.parametrize("given", ["\u0007", "\u0627\u0031", "a\ue000", "\U000e0001"])
def test_prohibited_and_bidi_errors(given: str) -> None:
    with pytest.raises(ValueError):
        saslprep(given)


def test_scram_keys_are_derived_from_the_prepared_password() -> None:
    assert derive_credentials("I\u00adX", b"s", 4096) == derive_credentials("IX", b"s", 4096)


def test_unknown_users_get_a_stable_salt_with_a_key() -> None:
    def salt_for(user: bytes) -> bytes:
        server = ScramSHA256Server(fake_salt_key=b"k" * 32)
        server.start(b"n,,n=" + user + b",r=abc")
        step = server.answer(None)
        return step.data.split(b",")[1]  # type: ignore[union-attr]

    assert salt_for(b"ghost") == salt_for(b"ghost") != salt_for(b"other")
