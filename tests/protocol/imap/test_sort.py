"""SORT ordering (RFC 5256 3, RFC 5957) and ESORT result sets (RFC 5267 3.2), pure."""

from __future__ import annotations

from mailkeep.protocol.imap.commands import SortCriterion, SortKey
from mailkeep.protocol.imap.sort import SortMessage, casemap, ordered_set, sort_messages


def ids(messages: list[SortMessage], *criteria: tuple[SortKey, bool]) -> list[int]:
    return [m.uid for m in sort_messages(messages, [SortCriterion(k, r) for k, r in criteria])]


MESSAGES = [
    SortMessage(
        1,
        size=300,
        internal_ts=50,
        sent_ts=10,
        base_subject="lunch",
        sort_from="bob",
        sort_to="zed",
    ),
    SortMessage(
        2,
        size=100,
        internal_ts=40,
        sent_ts=30,
        base_subject="Agenda",
        sort_from="Alice",
        sort_cc="x",
    ),
    SortMessage(
        3, size=200, internal_ts=30, sent_ts=20, base_subject="LUNCH", sort_from="", sort_to="amy"
    ),
    SortMessage(4, size=100, internal_ts=20, sent_ts=30, base_subject="agenda", sort_from="carol"),
    SortMessage(
        5, size=400, internal_ts=10, sent_ts=5, base_subject="", sort_from="alice", sort_cc="a"
    ),
]


def test_each_key_ascending_with_sequence_tie_break() -> None:
    assert ids(MESSAGES, (SortKey.ARRIVAL, False)) == [5, 4, 3, 2, 1]
    assert ids(MESSAGES, (SortKey.DATE, False)) == [5, 1, 3, 2, 4]  # 2 and 4: by number
    assert ids(MESSAGES, (SortKey.SIZE, False)) == [2, 4, 3, 1, 5]
    # case-insensitive; the empty string (no header) first; ties in mailbox order
    assert ids(MESSAGES, (SortKey.SUBJECT, False)) == [5, 2, 4, 1, 3]
    assert ids(MESSAGES, (SortKey.FROM, False)) == [3, 2, 5, 1, 4]
    assert ids(MESSAGES, (SortKey.TO, False)) == [2, 4, 5, 3, 1]
    assert ids(MESSAGES, (SortKey.CC, False)) == [1, 3, 4, 5, 2]


def test_reverse_reverses_one_criterion_not_the_tie_break() -> None:
    # RFC 5256 3: REVERSE SUBJECT is not the reverse of SUBJECT
    assert ids(MESSAGES, (SortKey.SUBJECT, True)) == [1, 3, 2, 4, 5]
    assert ids(MESSAGES, (SortKey.SIZE, True)) == [5, 1, 3, 2, 4]


def test_several_criteria_in_priority_order() -> None:
    # RFC 5256 3 example shape: (SUBJECT REVERSE DATE)
    assert ids(MESSAGES, (SortKey.SUBJECT, False), (SortKey.DATE, True)) == [5, 2, 4, 3, 1]
    assert ids(MESSAGES, (SortKey.SIZE, False), (SortKey.ARRIVAL, False)) == [4, 2, 3, 1, 5]
    assert ids(MESSAGES, (SortKey.SIZE, True), (SortKey.SUBJECT, True)) == [5, 1, 3, 2, 4]


def test_display_keys() -> None:
    # RFC 5957: the display name, else the addr-spec (the store caches which applies)
    messages = [
        SortMessage(1, display_from="Zoe Smith", display_to="b@example.org"),
        SortMessage(2, display_from="adam@example.org", display_to="Anna"),
        SortMessage(3, display_from="", display_to=""),
    ]
    assert ids(messages, (SortKey.DISPLAYFROM, False)) == [3, 2, 1]
    assert ids(messages, (SortKey.DISPLAYTO, False)) == [3, 2, 1]
    assert ids(messages, (SortKey.DISPLAYTO, True)) == [1, 2, 3]


def test_no_messages() -> None:
    assert ids([], (SortKey.DATE, False)) == []


def test_unicode_casemap() -> None:
    # RFC 5051: titlecase, then canonical decomposition
    assert casemap("résumé") == casemap("RÉSUMÉ") == casemap("re\u0301sume\u0301".upper())
    assert casemap("ǆ") == casemap("ǅ") == casemap("Ǆ")
    assert casemap("straße") != casemap("STRASSE")  # a one-to-many mapping is not used
    assert casemap("abc") < casemap("ABD") < casemap("é")


def test_ordered_set_keeps_the_order_and_only_ascending_ranges() -> None:
    assert ordered_set([]) == ""
    assert ordered_set([7]) == "7"
    assert ordered_set([1, 2, 3, 9, 4, 5]) == "1:3,9,4:5"
    # RFC 5267 3.3: a descending run is not a range
    assert ordered_set([23765, 23764, 23763, 23761]) == "23765,23764,23763,23761"
