"""Command lines as everyday clients send them (case, quoting and spacing habits of
Thunderbird, Apple Mail, K-9, Outlook, mutt, mbsync, Evolution): each must parse."""

from __future__ import annotations

import dataclasses

import pytest

from mailkeep.config.schema import IMAP
from mailkeep.protocol.imap.connection import IMAPLimits
from mailkeep.protocol.imap.parser import parse_command

from .drive import split_command

LINES = [
    b'1 ID ("name" "Thunderbird" "version" "115.3.1")',
    b"2 capability",
    b"3 authenticate PLAIN",
    b"4 namespace",
    b'5 LSUB "" "*"',
    b'6 LIST (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)',
    b'7 STATUS "INBOX" (UIDNEXT MESSAGES UNSEEN RECENT)',
    b'8 select "INBOX" (CONDSTORE)',
    b"9 UID fetch 1:* (FLAGS)",
    b"10 UID fetch 1:* (FLAGS) (CHANGEDSINCE 1234)",
    b"11 UID store 5 +Flags (\\Seen)",
    b"12 UID fetch 4 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject "
    b"Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
    b"Reply-To)])",
    b"13 UID fetch 4 (UID RFC822.SIZE BODY.PEEK[])",
    b"14 IDLE",
    b'15 LIST "" ""',
    b'16 ID ("name" "Mac OS X Mail" "version" "16.0 (3731.500.231)" "os" "Mac OS X")',
    b"17 UID SEARCH 1:* NOT DELETED",
    b"18 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
    b"19 UID FETCH 42 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (date subject "
    b"from content-type to cc reply-to message-id references in-reply-to X-K9mail-Identity "
    b"Chat-Version)])",
    b"20 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE "
    b"FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION "
    b"IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])",
    b"21 UID FETCH 5:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])",
    b'22 APPEND "INBOX" (\\Seen) {5+}\r\nhello',
    b"23 UID STORE 12 +FLAGS.SILENT \\Deleted",
    b"24 UID EXPUNGE 12",
    b'25 SELECT "INBOX" (QRESYNC (1 2 1:5))',
    b"26 UID MOVE 3 Trash",
    b'27 CREATE "Archive/2024"',
    b'28 LIST "" "%" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN))',
    b"29 ENABLE QRESYNC CONDSTORE",
    b"30 UID SEARCH RETURN (ALL) UNDELETED SINCE 1-Jan-2024",
    b"31 FETCH 1:10 (FLAGS BODYSTRUCTURE)",
    b"32 UID FETCH 7 (BINARY.PEEK[1] BINARY.SIZE[1])",
    b"33 COMPRESS DEFLATE",
    b"34 GETQUOTAROOT INBOX",
    b"35 SEARCH CHARSET UTF-8 SUBJECT {5}\r\nS\xc3\xbc\xc3\x9f",
    b"36 UID THREAD REFERENCES UTF-8 ALL",
    b"37 UID SORT (REVERSE ARRIVAL) UTF-8 ALL",
    b"38 FETCH 1 (PREVIEW (LAZY))",
    b"39 EXAMINE Sent",
    b'40 LOGIN "user@example.org" "p@ss w0rd"',
]


@pytest.mark.parametrize("line", LINES, ids=[line.split(b" ")[0].decode() for line in LINES])
def test_client_line_parses(line: bytes) -> None:
    parsed = parse_command(*split_command(line + b"\r\n"))
    assert parsed.tag == line.split(b" ")[0].decode()


def test_config_section_matches_the_limits() -> None:
    # app.py builds IMAPLimits from the [imap] fields named like its own fields
    names = {f.name for f in dataclasses.fields(IMAPLimits)}
    assert names <= set(IMAP.model_fields)
    assert IMAPLimits(**IMAP().model_dump(include=names)) == IMAPLimits()
