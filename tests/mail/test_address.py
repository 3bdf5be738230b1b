"""mail.address: RFC 5321 mailbox syntax, RFC 6531 UTF-8, IDNA domains, sizes, case rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.mail.address import (
    Address,
    AddressError,
    parse_address,
    parse_path,
    quote_local,
    split_subaddress,
)

VALID = [
    # (input, canonical text, display)
    ("bob@example.org", "bob@example.org", "bob@example.org"),
    ("Bob.Smith@Example.ORG", "Bob.Smith@example.org", "Bob.Smith@example.org"),
    ("a!#$%&'*+-/=?^_`{|}~z@example.org", "a!#$%&'*+-/=?^_`{|}~z@example.org", None),
    ("user%other@example.org", "user%other@example.org", None),  # '%' is not routing
    ("host!user@example.org", "host!user@example.org", None),  # nor is '!'
    ('"john doe"@example.org', '"john doe"@example.org', None),
    ('"plain"@example.org', "plain@example.org", None),  # quotes only when needed
    ('"a\\"b"@example.org', '"a\\"b"@example.org', None),
    ('"a\\\\b"@example.org', '"a\\\\b"@example.org', None),
    ('"\\x"@example.org', "x@example.org", None),  # a needless quoted-pair
    ('"a@b"@example.org', '"a@b"@example.org', None),
    ('".lead"@example.org', '".lead"@example.org', None),
    ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v", "用户@例子.广告"),
    ("jörg@bücher.example", "jörg@xn--bcher-kva.example", "jörg@bücher.example"),
    ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example", "x@bücher.example"),
    ("x@BÜCHER.example", "x@xn--bcher-kva.example", "x@bücher.example"),
    ("x@[192.0.2.1]", "x@[192.0.2.1]", "x@[192.0.2.1]"),
    ("x@[IPv6:2001:DB8:0:0::1]", "x@[IPv6:2001:db8::1]", None),
    ("x@localhost", "x@localhost", None),
    ("x@a-b.c-d.example", "x@a-b.c-d.example", None),
]


@pytest.mark.parametrize(("text", "canonical", "display"), VALID)
def test_valid(text: str, canonical: str, display: str | None) -> None:
    address = parse_address(text)
    assert address.text == canonical == str(address)
    assert address.display() == (display or canonical)
    assert parse_address(canonical) == address  # the canonical form parses to itself
    assert parse_address(canonical).text == canonical


INVALID = [
    ("", "empty address"),
    ("bob", "no @ and domain"),
    ("@example.org", "source routes are not accepted"),
    ("@relay.example,@other.example:bob@example.org", "source routes are not accepted"),
    ("bob@", "empty domain"),
    ("x@@y.example", "character '@' not allowed unquoted in local part"),
    (".bob@example.org", "empty atom in local part (leading, trailing or double dot)"),
    ("bob.@example.org", "empty atom in local part (leading, trailing or double dot)"),
    ("b..ob@example.org", "empty atom in local part (leading, trailing or double dot)"),
    ("bo b@example.org", "character ' ' not allowed unquoted in local part"),
    ("bo(b)@example.org", "character '(' not allowed unquoted in local part"),
    ('bo"b"@example.org', "character '\"' not allowed unquoted in local part"),
    ("a,b@example.org", "character ',' not allowed unquoted in local part"),
    ('""@example.org', "empty local part"),
    ('"abc@example.org', "unterminated quoted local part"),
    ('"ab"c@example.org', "text after the closing quote of the local part"),
    ('"ab\\"@example.org', "unterminated quoted local part"),
    ('"a\\é"@example.org', "bad backslash escape in quoted local part"),
    ("bob\x00@example.org", "control character U+0000"),
    ("bob@example.org\r\nRCPT TO:<x@y>", "control character U+000D"),
    ("bob\n@example.org", "control character U+000A"),
    ('"bob\x7f"@example.org', "control character U+007F"),
    ("bob\x85@example.org", "control character U+0085"),
    ("bob@example.org.", "invalid domain"),
    ("bob@.example.org", "invalid domain"),
    ("bob@exa..mple.org", "invalid domain"),
    ("bob@-example.org", "invalid domain"),
    ("bob@exam_ple.org", "invalid domain"),
    ("bob@exam ple.org", "invalid domain"),
    ("bob@" + "a" * 64 + ".example", "invalid domain"),  # a label over 63
    ("bob@xn--zz.example", "invalid A-label in domain"),
    ("bob@bücher。example。", "invalid domain"),  # the ideographic full stop is no dot
    ("bob@\u3000example.org", "invalid internationalised domain"),
    ("bob@[192.0.2.1", "unterminated address literal"),
    ("bob@[192.0.2.01]", "invalid IPv4 address literal"),
    ("bob@[192.0.2]", "invalid IPv4 address literal"),
    ("bob@[IPv6:::1%eth0]", "IPv6 zone ids are not allowed"),
    ("bob@[IPv6:xyz]", "invalid IPv6 address literal"),
    ("bob@[tag:content]", "unsupported address literal tag"),
    ("a" * 65 + "@example.org", "local part longer than 64 octets"),
    ("é" * 33 + "@example.org", "local part longer than 64 octets"),  # octets, not chars
    ("bob@" + ".".join(["a" * 60] * 5), "longer than 254 octets"),
    ("\udcff@example.org", "unpaired surrogate"),
    # 135 octets as typed, but 268 with the domain in A-labels ("ä" is "xn--4ca").
    ("a" * 60 + "@" + "ä." * 25 + "example", "longer than 254 octets with A-labels"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    assert info.value.reason == reason
    assert str(info.value).startswith("invalid address ")


def test_length_limits_are_inclusive() -> None:
    assert parse_address("a" * 64 + "@example.org").local == "a" * 64
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 60])  # 252: "b@" makes 254
    assert len(parse_address(f"b@{domain}").domain) == 252
    with pytest.raises(AddressError) as info:
        parse_address(f"b@{domain}x")
    assert info.value.reason == "longer than 254 octets"


def test_without_smtputf8_non_ascii_is_refused() -> None:
    assert parse_address("bob@example.org", utf8=False).text == "bob@example.org"
    for text in ("jörg@example.org", "bob@bücher.example", '"jö rg"@example.org'):
        with pytest.raises(AddressError) as info:
            parse_address(text, utf8=False)
        assert info.value.reason == "non-ASCII address without SMTPUTF8"
    # A domain already in A-labels is ASCII and fine.
    assert parse_address("bob@xn--bcher-kva.example", utf8=False).domain.startswith("xn--")


def test_bytes_input() -> None:
    assert parse_address("jörg@example.org".encode()).local == "jörg"
    with pytest.raises(AddressError) as info:
        parse_address(b"j\xffrg@example.org")
    assert info.value.reason == "not valid UTF-8"


def test_paths() -> None:
    assert parse_path("<>") is None  # the null reverse-path, RFC 5321 4.1.1.2
    assert parse_path("<Bob@Example.org>") == parse_address("bob@example.org")
    for text, reason in [
        ("bob@example.org", "expected <local@domain>"),
        ("<bob@example.org", "expected <local@domain>"),
        ("<", "expected <local@domain>"),
        ("<@a.example:bob@example.org>", "source routes are not accepted"),
        ("<" + "a" * 64 + "@" + ".".join(["b" * 63] * 3) + "x" * 2 + ">", "longer than 256 octets"),
    ]:
        with pytest.raises(AddressError) as info:
            parse_path(text)
        assert info.value.reason == reason, text


def test_case_rules() -> None:
    # Domains are case-insensitive (RFC 5321 2.4); local parts are too, by mailkeep's choice.
    assert parse_address("BOB@EXAMPLE.ORG") == parse_address("bob@example.org")
    assert hash(parse_address("BOB@EXAMPLE.ORG")) == hash(parse_address("bob@example.org"))
    assert parse_address("JÖRG@example.org") == parse_address("jörg@example.org")
    assert parse_address("STRASSE@example.org") == parse_address("straße@example.org")  # casefold
    # NFC: a precomposed and a decomposed ö are the same mailbox.
    assert parse_address("j\u00f6rg@example.org") == parse_address("jo\u0308rg@example.org")
    # The case the sender wrote is kept for display and for passing on.
    assert parse_address("Bob@example.org").local == "Bob"
    assert parse_address('"Bob"@example.org') == parse_address("bob@example.org")
    assert parse_address("bob@example.org") != parse_address("bob@example.net")
    assert parse_address("bob@example.org") != "bob@example.org"


def test_subaddress() -> None:
    address = parse_address("Bob+Lists+Python@example.org")
    split = split_subaddress(address, "+")
    assert split is not None
    base, tag = split
    assert base == parse_address("bob@example.org") and tag == "Lists+Python"
    assert split_subaddress(parse_address("bob-x@example.org"), "-") == (
        parse_address("bob@example.org"),
        "x",
    )
    assert split_subaddress(parse_address("bob+@example.org"), "+") == (
        parse_address("bob@example.org"),
        "",
    )
    assert split_subaddress(parse_address("+tag@example.org"), "+") is None
    assert split_subaddress(parse_address("bob@example.org"), "+") is None
    assert split_subaddress(address, "") is None  # subaddressing off


def test_quote_local() -> None:
    assert quote_local("bob") == "bob"
    assert quote_local("a b") == '"a b"'
    assert quote_local('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_local("jörg") == "jörg"


def test_literal_is_flagged() -> None:
    assert parse_address("x@[192.0.2.1]").is_literal
    assert not parse_address("x@example.org").is_literal
    assert Address("x", "example.org").text == "x@example.org"


# Everything the grammar cares about, plus some Unicode, to reach the slow path's corners.
_ALPHABET = st.sampled_from(
    [*'ab.@"\\[]:%!+ -_,()<>\x00\r\n\x7f\x85é用。ẞ', "xn--", "IPv6:", "::1", "1.2.3.4"]
)


@given(st.lists(_ALPHABET, max_size=40).map("".join))
@settings(max_examples=1000, deadline=None)
def test_grammar_soup_only_raises_address_error(text: str) -> None:
    _check_total(text)


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_any_text_only_raises_address_error(text: str) -> None:
    _check_total(text)
    _check_total(text + "@example.org")
    _check_total("bob@" + text)


@given(st.binary(max_size=80))
@settings(max_examples=500, deadline=None)
def test_any_bytes_only_raise_address_error(data: bytes) -> None:
    for value in (data, data + b"@example.org", b"bob@" + data):
        try:
            parse_address(value)
        except AddressError:
            pass
        try:
            parse_path(b"<" + value + b">")
        except AddressError:
            pass


def _check_total(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as exc:
        assert exc.reason
    else:
        # Whatever parses has a canonical form that parses to the same address.
        again = parse_address(address.text)
        assert again == address and again.text == address.text
        assert len(address.text.encode()) <= 254
    try:
        parse_path(f"<{text}>")
    except AddressError:
        pass


_LOCAL = st.one_of(
    st.from_regex(
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\.[A-Za-zé用0-9_-]{1,8}){0,3}", fullmatch=True
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=20).map(
        quote_local
    ),
)
_DOMAIN = st.lists(
    st.sampled_from(["example", "bücher", "例子", "xn--bcher-kva", "a-b", "ä", "ORG", "x1"]),
    min_size=1,
    max_size=40,
).map(".".join)


@given(_LOCAL, _DOMAIN)
@settings(max_examples=200, deadline=None)
def test_valid_addresses_round_trip(local: str, domain: str) -> None:
    try:
        address = parse_address(f"{local}@{domain}")
    except AddressError as exc:
        assert "longer than" in exc.reason or "control character" in exc.reason, exc
        return
    assert address.domain == address.domain.lower() and address.domain.isascii()
    again = parse_address(address.text)
    assert again == address and again.text == address.text and again.local == address.local
    assert parse_address(address.display()) == address
    assert parse_path(f"<{address.text}>") == address
