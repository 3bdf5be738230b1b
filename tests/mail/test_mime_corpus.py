"""The parser over the shared third-party corpus (read in place, never copied into the
repository): every message parses, offsets nest, known sizes and fields match."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailkeep.mail.mime import MessageInfo, Part, find_part, parse_message

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


def corpus_dir(*parts: str) -> Path:
    """A folder of the corpus; skips (fails in CI) when the corpus is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.is_dir():
        message = f"corpus folder {path} is absent"
        if os.environ.get("MAILKEEP_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def corpus_messages() -> list[Path]:
    """Every corpus message the parser must read, sorted (empty when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    mime = CORPUS / "mime"
    found = list((mime / "crymap").glob("*.eml"))
    found += list((mime / "stalwart-mail-parser").rglob("*.eml"))
    found += list((mime / "python-test_email").glob("msg_*.txt"))
    found += list((CORPUS / "load" / "spamassassin-sample").glob("*/*.eml"))
    return sorted(found)


def read_message(path: Path) -> bytes:
    """The message bytes; an mbox "From " line leading a SpamAssassin file is dropped."""
    raw = path.read_bytes()
    if "spamassassin" in path.parts[-3] and raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return raw


MESSAGES = corpus_messages()


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_message_parses_with_nested_offsets(path: Path) -> None:
    raw = read_message(path)
    info = parse_message(raw)
    assert info.size == len(raw)
    assert info.body.header_start == 0
    assert info.body.body_start == info.header_size
    _check_nesting(info.body, 0, len(raw))
    assert MessageInfo.from_bytes(info.to_bytes()) == info


def _check_nesting(part: Part, low: int, high: int) -> None:
    assert low <= part.header_start <= part.body_start <= part.body_end <= high
    previous = part.body_start
    for child in part.children:
        assert child.header_start >= previous
        _check_nesting(child, part.body_start, part.body_end)
        previous = child.body_end
    if part.message is not None:
        assert part.message.body.header_start == part.body_start
        _check_nesting(part.message.body, part.body_start, part.body_end)


def test_torture_test_known_part_sizes() -> None:
    raw = (corpus_dir("mime", "crymap") / "torture-test.eml").read_bytes()
    info = parse_message(raw)
    # The three sizes the corpus README quotes: an embedded message, a message/rfc822 part
    # holding audio, and the andrew-inset part of the first embedded message.
    assert _find(info, (2,)).size == 4906
    assert _find(info, (3,)).size == 562270
    inset = _find(info, (2, 3))
    assert (inset.type, inset.subtype, inset.size) == ("application", "andrew-inset", 917)
    assert len(info.body.children) == 12


def _find(info: MessageInfo, section: tuple[int, ...]) -> Part:
    part = find_part(info, section)
    assert part is not None, section
    return part
