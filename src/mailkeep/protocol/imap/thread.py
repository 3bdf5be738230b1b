"""THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3), over cached header fields.

Implementation notes (invariants):

- The input is the searched messages in mailbox order; the position in that list is the
  sequence-number tie-break of every date comparison (RFC 5256 2.2).
- Nothing recurses: a mailbox may hold a reference chain thousands of messages deep, so
  every walk over the tree (pruning, sorting, building the result) uses an explicit stack.
- REFERENCES follows the six steps of RFC 5256 3 in order; the step numbers are in the
  comments. A link that would make a loop is never made, so the parent pointers always
  form a forest and walking up from any node ends.
- Message-IDs are compared after removing quoting (RFC 5256 3: ``<"a"@b>`` is ``<a@b>``),
  case-sensitively. A message without a valid Message-ID, or whose ID an earlier message
  already has, gets an ID of its own that no reference can name.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

from mailkeep.mail.sortfields import is_reply_or_forward
from mailkeep.protocol.imap.sort import SortFields, casemap
from mailkeep.protocol.imap.untagged import ThreadNode, ThreadTree

_MSG_ID = re.compile(r"<([^<>]+)>")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")
_WSP = re.compile(r"[ \t\r\n]+")
_PLAIN_ID = re.compile(r'[^" \t\r\n]+')


def normalize_id(inner: str) -> str:
    """A msg-id's text between the angle brackets, without quoting or white space."""
    if _PLAIN_ID.fullmatch(inner):
        return inner  # the common case: nothing to remove
    if '"' in inner:
        inner = _QUOTED.sub(lambda m: _ESCAPE.sub(r"\1", m.group(1)), inner)
    return _WSP.sub("", inner)


@functools.lru_cache(maxsize=65536)
def message_ids(text: str) -> tuple[str, ...]:
    """The normalized msg-ids in a header value, in order. Remembered: a client threads
    the same mailbox again and again, and the headers of a message never change."""
    return tuple(n for m in _MSG_ID.finditer(text) if (n := normalize_id(m.group(1))))


_reply_or_forward = functools.lru_cache(maxsize=65536)(is_reply_or_forward)


# --- ORDEREDSUBJECT -----------------------------------------------------------------------


def ordered_subject(messages: Sequence[SortFields]) -> Sequence[ThreadTree]:
    """RFC 5256 3 ORDEREDSUBJECT: group by base subject (sorted by subject, then sent
    date); threads in the order of their first message's sent date; every later message of
    a thread is a child of the first."""
    keyed = sorted(
        ((casemap(m.base_subject), m.sent_ts, i, m) for i, m in enumerate(messages)),
        key=lambda t: (t[0], t[1], t[2]),
    )
    threads: list[tuple[int, int, ThreadNode]] = []
    start = 0
    while start < len(keyed):
        end = start + 1
        while end < len(keyed) and keyed[end][0] == keyed[start][0]:
            end += 1
        _, sent, position, first = keyed[start]
        children = tuple(ThreadNode(t[3].uid) for t in keyed[start + 1 : end])
        threads.append((sent, position, ThreadNode(first.uid, children)))
        start = end
    threads.sort(key=lambda t: (t[0], t[1]))
    return [t[2] for t in threads]


# --- REFERENCES ---------------------------------------------------------------------------


class _Node:
    """A container of the REFERENCES algorithm: a message, or a dummy (``message`` None)."""

    __slots__ = ("children", "message", "parent", "position")

    def __init__(self, message: SortFields | None = None, position: int = -1) -> None:
        self.message = message
        self.position = position
        self.parent: _Node | None = None
        self.children: list[_Node] = []

    @property
    def id(self) -> int | None:
        """What the THREAD response shows: the message's number, None for a dummy."""
        return None if self.message is None else self.message.uid

    def is_below(self, other: _Node) -> bool:
        """True when ``other`` is this node or one of its ancestors."""
        node: _Node | None = self
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False


def _link(parent: _Node, child: _Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _unlink(child: _Node) -> None:
    parent = child.parent
    if parent is not None:
        parent.children.remove(child)
        child.parent = None


def _references(message: SortFields) -> tuple[str, ...]:
    """RFC 5256 3: the References IDs, else the first valid In-Reply-To ID, else none."""
    refs = message_ids(message.references)
    if refs:
        return refs
    return message_ids(message.in_reply_to)[:1]


def _build(messages: Sequence[SortFields]) -> list[_Node]:
    """Step 1 (link by references) and step 2 (the root set)."""
    table: dict[str, _Node] = {}
    nodes: list[_Node] = []
    for position, message in enumerate(messages):
        ids = message_ids(message.message_id)
        node: _Node | None = table.get(ids[0]) if ids else None
        if node is not None and node.message is None:
            node.message, node.position = message, position  # a dummy until now
        else:
            # (1.A) no valid ID, or a duplicate of an earlier message's: a unique one
            node = _Node(message, position)
            if ids and ids[0] not in table:
                table[ids[0]] = node
        nodes.append(node)
        refs = [table.setdefault(ref, _Node()) for ref in _references(message)]
        # (1.A) each reference is the parent of the next, unless that one has a parent
        # already or the link would make a loop
        for parent, child in itertools.pairwise(refs):
            if child.parent is None and not parent.is_below(child):
                _link(parent, child)
        # (1.B) the last reference is the parent of this message, replacing any other
        _unlink(node)
        if refs and not refs[-1].is_below(node):
            _link(refs[-1], node)
    # (2) the root set; its order does not matter, step 4 sorts it
    roots = [n for n in nodes if n.parent is None]
    roots += [n for n in table.values() if n.message is None and n.parent is None]
    return roots


def _prune(roots: list[_Node]) -> list[_Node]:
    """Step 3: drop childless dummies; splice a dummy's children into its place, except
    that a dummy at the root keeps two or more children (a thread whose head is missing)."""
    # post-order without recursion: children are pruned before their parent
    for node in reversed(_preorder(roots)):
        if not any(child.message is None for child in node.children):
            continue
        kept: list[_Node] = []
        for child in node.children:
            if child.message is not None:
                kept.append(child)
                continue
            for grandchild in child.children:  # below the root: always promoted
                grandchild.parent = node
                kept.append(grandchild)
        node.children = kept
    result: list[_Node] = []
    for root in roots:
        if root.message is not None or len(root.children) > 1:
            result.append(root)
        elif root.children:
            child = root.children[0]
            child.parent = None
            result.append(child)
    return result


def _preorder(roots: list[_Node]) -> list[_Node]:
    """Every node below ``roots``, each before its children (no recursion: threads can be
    thousands deep); reversed, it visits children before their parent."""
    order: list[_Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    return order


def _date_key(node: _Node) -> tuple[int, int]:
    """Sent date and position; a dummy sorts by its first child (RFC 5256 3 steps 4, 6)."""
    while node.message is None:
        node = node.children[0]
    return node.message.sent_ts, node.position


def _sort_below(roots: list[_Node]) -> None:
    """Step 6: sort every set of siblings by sent date, the deepest first."""
    for node in reversed(_preorder(roots)):
        if len(node.children) > 1:
            node.children.sort(key=_date_key)


def _subject_of(node: _Node) -> SortFields:
    """The message whose subject is the thread's: the node's or a dummy's first child's."""
    while node.message is None:
        node = node.children[0]
    return node.message


def _group_by_subject(roots: list[_Node]) -> list[_Node]:
    """Step 5: merge threads whose heads have the same base subject."""
    table: dict[str, _Node] = {}
    subjects: dict[int, str] = {}
    replies: dict[int, bool] = {}

    def is_reply(node: _Node) -> bool:
        if id(node) not in replies:
            assert node.message is not None
            replies[id(node)] = _reply_or_forward(node.message.subject)
        return replies[id(node)]

    # (5.B) one head per subject: a dummy before a message, an original before a reply
    for root in roots:
        subject = subjects[id(root)] = casemap(_subject_of(root).base_subject)
        if not subject:
            continue
        held = table.get(subject)
        if held is None:
            table[subject] = root
        elif held.message is not None and (
            root.message is None or (is_reply(held) and not is_reply(root))
        ):
            table[subject] = root
    # (5.C) merge every other head with the same subject into the table's
    result: list[_Node] = []
    removed: set[int] = set()
    for root in roots:
        subject = subjects[id(root)]
        held = table.get(subject) if subject else None
        if held is None or held is root:
            continue
        removed.add(id(root))
        if held.message is None and root.message is None:
            for child in root.children:
                _link(held, child)
            root.children = []
        elif held.message is None or (
            root.message is not None and is_reply(root) and not is_reply(held)
        ):
            _link(held, root)
        else:
            dummy = _Node()
            removed.add(id(held))
            held.parent = root.parent = None
            _link(dummy, held)
            _link(dummy, root)
            table[subject] = dummy
            result.append(dummy)
    result += [root for root in roots if id(root) not in removed]
    return result


def references(messages: Sequence[SortFields]) -> Sequence[ThreadTree]:
    """RFC 5256 3 REFERENCES threading of ``messages`` (in mailbox order); the nodes are
    handed to the THREAD encoder as they are (dummies show as None)."""
    roots = _prune(_build(messages))  # steps 1-3
    for root in roots:  # (4) a dummy's children are sorted before it is placed
        if root.message is None:
            root.children.sort(key=_date_key)
    roots.sort(key=_date_key)  # (4)
    roots = _group_by_subject(roots)  # (5)
    _sort_below(roots)  # (6), below the root
    roots.sort(key=_date_key)  # (6), the root's own children
    return roots
