"""RFC 5256 2.1 base subject, each step of the algorithm and their combinations."""

from __future__ import annotations

import pytest

from mailkeep.mail.mime import parse_message
from mailkeep.mail.sortfields import base_subject, is_reply_or_forward

CASES = [
    # (1) white space: tabs and runs become one space; outer space goes with (2) and (3)
    ("Hello\t  world", "Hello world"),
    ("  padded  ", "padded"),
    # (2) trailers: "(fwd)" and white space, repeatedly, case-insensitively
    ("Report (fwd)", "Report"),
    ("Report (FWD) (fwd)  ", "Report"),
    ("Report(fwd)", "Report"),
    ("Report (fwd) x", "Report (fwd) x"),
    # (3) leaders: re, fw, fwd with optional blob and white space before the colon
    ("Re: lunch", "lunch"),
    ("RE: re: Fwd: lunch", "lunch"),
    ("Fw: lunch", "lunch"),
    ("re : lunch", "lunch"),
    ("Re[2]: lunch", "lunch"),
    ("Re [2] : lunch", "lunch"),
    ("[list] Re: lunch", "lunch"),
    ("[a][b] Re: [c] Re: lunch", "lunch"),
    ("Reply: lunch", "Reply: lunch"),
    ("Ref: lunch", "Ref: lunch"),
    ("Re lunch", "Re lunch"),
    # (4) a leading blob goes when something remains
    ("[list] lunch", "lunch"),
    ("[list]", "[list]"),
    ("[a] [b]", "[b]"),
    ("[list]   ", "[list]"),
    # (5) leaders and blobs alternate until neither matches
    ("[list] Re: [other] Fwd: lunch", "lunch"),
    # (6) "[fwd: ...]" wrappers, then again from (2)
    ("[Fwd: lunch]", "lunch"),
    ("[fwd: Re: lunch (fwd)]", "lunch"),
    ("Re: [Fwd: [list] Re: lunch]", "lunch"),
    ("[Fwd: lunch] tomorrow", "tomorrow"),  # not a wrapper: a blob, removed by (4)
    # a blob holding a bracket or non-ASCII is not a blob
    ("[a[b] lunch", "[a[b] lunch"),
    ("[caf\u00e9] lunch", "[caf\u00e9] lunch"),
    ("", ""),
    ("Re:", ""),
    # mixed leaders: "(fwd)" is a trailer only at the end, never a leader
    ("Re: [list] Fwd: (fwd) subj", "(fwd) subj"),
    ("Re: [list] Fwd: subj (fwd)", "subj"),
    ("[fwd: [list] subj]", "subj"),
    ("[Fwd: Re: [fwd: lunch]]", "lunch"),
    ("[fwd: lunch", "[fwd: lunch"),  # no closing bracket: no blob, no wrapper, no leader
    ("[fwd:]", ""),  # step (6) unwraps even an empty subject
    ("[x] [y] z", "z"),
    ("Re: [2] ", "[2]"),
    ("FWD[3]: Fw: RE :  x", "x"),
]


@pytest.mark.parametrize(("subject", "expected"), CASES)
def test_base_subject(subject: str, expected: str) -> None:
    assert base_subject(subject) == expected


def test_base_subject_is_idempotent() -> None:
    for subject, _ in CASES:
        once = base_subject(subject)
        assert base_subject(once) == once


def test_message_base_subject_decodes_encoded_words_first() -> None:
    raw = b"Subject: =?utf-8?q?Re=3A_caf=C3=A9?=\r\n (fwd)\r\n\r\n"
    search = parse_message(raw).search
    assert search.subject == "Re: café (fwd)"
    assert search.base_subject == "café"


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("lunch", False),
        ("[list] lunch", False),  # a blob alone is no reply marker
        ("Re: lunch", True),
        ("[list] re: lunch", True),
        ("lunch (fwd)", True),
        ("[Fwd: lunch]", True),
        ("  lunch  ", False),
        ("Reply: lunch", False),
    ],
)
def test_reply_or_forward(subject: str, reply: bool) -> None:
    # RFC 5256 3: removing a subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper
    assert is_reply_or_forward(subject) is reply
