"""THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3), pure: trees as wire bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailkeep.mail.sortfields import base_subject
from mailkeep.protocol.imap.encoder import encode
from mailkeep.protocol.imap.sort import SortMessage
from mailkeep.protocol.imap.thread import message_ids, ordered_subject, references
from mailkeep.protocol.imap.untagged import ThreadNode, thread

Algorithm = Callable[[Sequence[SortMessage]], list[ThreadNode]]


def msg(
    n: int,
    subject: str = "",
    *,
    sent: int | None = None,
    mid: str | None = "",
    refs: str = "",
    irt: str = "",
) -> SortMessage:
    return SortMessage(
        n,
        sent_ts=n if sent is None else sent,
        subject=subject,
        base_subject=base_subject(subject),
        message_id=f"<{n}@example.org>" if mid == "" else (mid or ""),
        references=refs,
        in_reply_to=irt,
    )


def wire(messages: Sequence[SortMessage], algorithm: Algorithm = references) -> bytes:
    return encode(thread(algorithm(messages))).removeprefix(b"* THREAD").strip()


def test_rfc_5256_example_tree() -> None:
    # RFC 5256 4: "(2)(3 6 (4 23)(44 7 96))", with 4 before 44 by sent date
    messages = [
        msg(2, "other"),
        msg(3, "plans"),
        msg(4, "Re: plans", refs="<3@example.org> <6@example.org>"),
        msg(6, "Re: plans", refs="<3@example.org>"),
        msg(7, "Re: plans", refs="<3@example.org> <6@example.org> <44@example.org>"),
        msg(23, "Re: plans", irt="<4@example.org>"),
        msg(44, "Re: plans", refs="<6@example.org>"),
        msg(96, "Re: plans", refs="<7@example.org>"),
    ]
    assert wire(messages) == b"(2)(3 6 (4 23)(44 7 96))"


def test_siblings_under_a_missing_parent() -> None:
    # RFC 5256 4: "((3)(5))": the parent is not in the mailbox
    messages = [msg(3, "Re: q", refs="<1@example.org>"), msg(5, "Re: q", refs="<1@example.org>")]
    assert wire(messages) == b"((3)(5))"
    # one child of a missing parent is promoted to the root
    assert wire(messages[:1]) == b"(3)"


def test_missing_parents_in_the_middle_are_spliced_out() -> None:
    messages = [
        msg(1, "a"),
        msg(2, "Re: a", refs="<1@example.org> <gone@example.org>"),
        msg(3, "Re: a", refs="<1@example.org> <gone@example.org>"),
    ]
    assert wire(messages) == b"(1 (2)(3))"


def test_in_reply_to_only_when_there_are_no_references() -> None:
    messages = [
        msg(1, "a"),
        msg(2, "b"),
        # References wins over In-Reply-To; only In-Reply-To's first ID counts
        msg(3, "c", refs="<2@example.org>", irt="<1@example.org>"),
        msg(4, "d", irt="<1@example.org> <2@example.org>"),
        msg(5, "e", refs="not an id", irt="<2@example.org>"),
    ]
    assert wire(messages) == b"(1 4)(2 (3)(5))"


def test_message_ids_are_normalized_and_case_sensitive() -> None:
    assert message_ids('<"01KF8JCEOCBS0045PS"@xxx.yyy.com>') == ("01KF8JCEOCBS0045PS@xxx.yyy.com",)
    assert message_ids(" <a@b> (comment) <c@d>") == ("a@b", "c@d")
    assert message_ids("no brackets@example.org") == ()
    messages = [
        msg(1, "x", mid='<"q"@example.org>'),
        msg(2, "y", refs="<q@example.org>"),
        msg(3, "z", refs="<Q@example.org>"),
    ]
    assert wire(messages) == b"(1 2)(3)"


def test_duplicate_and_missing_message_ids() -> None:
    messages = [
        msg(1, "a", mid="<same@example.org>"),
        msg(2, "b", mid="<same@example.org>"),  # gets an ID of its own
        msg(3, "c", refs="<same@example.org>"),
        msg(4, "d", mid=None),  # no Message-ID at all
        msg(5, "e", mid="garbage"),
    ]
    assert wire(messages) == b"(1 3)(2)(4)(5)"


def test_loops_are_never_made() -> None:
    messages = [
        msg(1, "a", refs="<2@example.org>"),
        msg(2, "b", refs="<1@example.org>"),  # would make 1 its own ancestor
        msg(3, "c", refs="<3@example.org>"),  # references itself
        msg(4, "d", refs="<5@example.org> <4@example.org> <5@example.org>"),
    ]
    # 1 hangs under 2 (first seen as a dummy); 2's reference to 1 would close a loop
    assert wire(messages) == b"(2 1)(3)(4)"


def test_own_references_override_a_guessed_parent() -> None:
    # 3's truncated References made 2 a child of 1; 2's own header says its parent is 9
    messages = [
        msg(1, "a"),
        msg(3, "c", refs="<1@example.org> <2@example.org>"),
        msg(5, "e", refs="<9@example.org> <2@example.org>"),
        msg(9, "i"),
        msg(12, "b", refs="<9@example.org>", mid="<2@example.org>"),
    ]
    assert wire(messages) == b"(1)(9 12 (3)(5))"


def test_threads_with_the_same_subject_are_merged() -> None:
    # RFC 5256 3 step 5: a reply joins the original; two originals get a dummy parent
    messages = [
        msg(1, "Lunch"),
        msg(2, "Re: lunch"),
        msg(3, "[list] Lunch"),
        msg(4, "dinner"),
        msg(5, "Fwd: dinner (fwd)"),
        msg(6, ""),  # empty subjects are never merged
        msg(7, ""),
    ]
    assert wire(messages) == b"((1 2)(3))(4 5)(6)(7)"


def test_a_reply_thread_joins_a_later_original() -> None:
    messages = [msg(1, "Re: budget"), msg(2, "budget")]
    assert wire(messages) == b"(2 1)"


def test_a_headless_thread_absorbs_same_subject_threads() -> None:
    messages = [
        msg(1, "Re: trip", refs="<gone@example.org>"),
        msg(2, "Re: trip", refs="<gone@example.org>"),
        msg(3, "trip"),
        msg(4, "Re: trip", refs="<other@example.org>"),
    ]
    # 1 and 2 hang off a dummy; 3 is a message with the same subject: it joins the dummy,
    # and so does 4 (promoted to the root from its own missing parent)
    assert wire(messages) == b"((1)(2)(3)(4))"


def test_threads_and_siblings_are_ordered_by_sent_date_then_number() -> None:
    messages = [
        msg(1, "late", sent=500),
        msg(2, "Re: late", sent=100, refs="<1@example.org>"),
        msg(3, "Re: late", sent=50, refs="<1@example.org>"),
        msg(4, "early", sent=10),
        msg(5, "tie", sent=10),
    ]
    assert wire(messages) == b"(4)(5)(1 (3)(2))"


def test_deep_chains_do_not_recurse() -> None:
    depth = 5000
    messages = [msg(1, "deep")] + [
        msg(n, "Re: deep", refs=f"<{n - 1}@example.org>") for n in range(2, depth + 1)
    ]
    tree = wire(messages)
    assert tree == b"(" + b" ".join(b"%d" % n for n in range(1, depth + 1)) + b")"
    branching = [msg(1, "b")] + [
        msg(n, "Re: b", refs=f"<{n // 2}@example.org>") for n in range(2, 2048)
    ]
    assert wire(branching).count(b"(") == 1 + 1023 * 2


def test_ordered_subject() -> None:
    # RFC 5256 3: threads by base subject, ordered by their first message's sent date;
    # every later message is a child of the first, none deeper
    messages = [
        msg(1, "b", sent=30),
        msg(2, "Re: a", sent=20),
        msg(3, "A", sent=40),
        msg(4, "[x] b", sent=10),
        msg(5, "c", sent=50),
        msg(6, "Fwd: B", sent=60),
    ]
    assert wire(messages, ordered_subject) == b"(4 (1)(6))(2 3)(5)"
    assert wire([], ordered_subject) == b""
    assert wire([]) == b""
