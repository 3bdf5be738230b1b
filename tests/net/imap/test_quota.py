"""QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA refused, NO [OVERQUOTA] on APPEND,
COPY and MOVE, STATUS DELETED and DELETED-STORAGE; against the running server, with
imapclient (a real client library) and raw lines where the exact bytes matter."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import ALICE, imaps, message, tls_context
from tests.net.imap.test_auth import exchange, raw_session

# 4 messages or 8 KiB, whichever comes first; messages here are ~200 octets
LIMITED = "quota-limited@example.test"
BYTES_ONLY = "quota-bytes@example.test"


@pytest.fixture(scope="module")
def users(server: MailServer) -> Iterator[None]:
    server.cli(
        "user", "add", LIMITED, "--password-stdin", "--quota", "8K", "--quota-messages", "4",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    server.cli(
        "user", "add", BYTES_ONLY, "--password-stdin", "--quota", "2K", stdin=PASSWORD + "\n"
    )
    yield


def client(server: MailServer, user: str) -> IMAPClient:
    c = IMAPClient("localhost", port=server.ports["imaps"], ssl_context=tls_context(server))
    c.login(user, PASSWORD)
    return c


def test_quota_capabilities_after_login(server: MailServer) -> None:
    c = imaps(server)
    try:
        caps = bytes(c.capability()[1][0]).decode().split()  # type: ignore[index]
        assert {"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"} <= set(caps)
        assert "QUOTASET" not in caps  # SETQUOTA is not offered (RFC 9208 4.1.3)
    finally:
        c.logout()


def test_getquotaroot_and_getquota_with_imapclient(server: MailServer, users: None) -> None:
    with client(server, LIMITED) as c:
        c.select_folder("INBOX")
        c.append("INBOX", message(1))
        roots, quotas = c.get_quota_root("INBOX")
        assert roots.mailbox == "INBOX" and roots.quota_roots == [""]
        by_resource = {q.resource: (q.usage, q.limit) for q in quotas}
        # 8K = 8192 octets = 8 units of 1024; one small message takes one unit (rounded up)
        assert by_resource == {"STORAGE": (1, 8), "MESSAGE": (1, 4)}
        assert [(q.quota_root, q.resource) for q in c._get_quota("")] == [
            ("", "STORAGE"),
            ("", "MESSAGE"),
        ]
        # GETQUOTAROOT of a mailbox that does not exist yet names the root it would have
        roots, _ = c.get_quota_root("NotYet/Made")
        assert roots.quota_roots == [""]


def test_getquota_raw_responses_and_setquota_refused(server: MailServer, users: None) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        exchange(sock, b'a1 LOGIN "%s" "%s"' % (BYTES_ONLY.encode(), PASSWORD.encode()), b"a1")
        out = exchange(sock, b'a2 GETQUOTA ""', b"a2")
        assert out == b'* QUOTA "" (STORAGE 0 2)\r\na2 OK GETQUOTA completed\r\n'
        out = exchange(sock, b"a3 GETQUOTAROOT INBOX", b"a3")
        assert out.startswith(b'* QUOTAROOT "INBOX" ""\r\n* QUOTA "" (STORAGE 0 2)\r\n'), out
        out = exchange(sock, b'a4 GETQUOTA "#user/other"', b"a4")
        assert out.startswith(b"a4 NO "), out
        out = exchange(sock, b'a5 SETQUOTA "" (STORAGE 99999)', b"a5")
        assert out.startswith(b"a5 NO [NOPERM]"), out
        out = exchange(sock, b'a6 GETQUOTA ""', b"a6")
        assert b"(STORAGE 0 2)" in out  # unchanged
    finally:
        sock.close()


def test_user_without_limits_has_no_quota_root(server: MailServer) -> None:
    with client(server, ALICE) as c:
        roots, quotas = c.get_quota_root("INBOX")
        assert roots.quota_roots == [] and quotas == []
        with pytest.raises(IMAPClientError):
            c._get_quota("")


def test_append_copy_move_over_quota_say_overquota(server: MailServer, users: None) -> None:
    with client(server, LIMITED) as c:
        c.create_folder("Over")
        status = c.folder_status("INBOX", ["MESSAGES"])
        while status[b"MESSAGES"] < 4:  # fill up to the message limit
            c.append("INBOX", message(int(status[b"MESSAGES"]) + 10))
            status = c.folder_status("INBOX", ["MESSAGES"])
        usage = {q.resource: q.usage for q in c.get_quota("INBOX")}
        assert usage["MESSAGE"] == 4
    raw = imaps(server, None)
    try:
        raw.login(LIMITED, PASSWORD)
        typ, data = raw.append("INBOX", None, None, message(99))
        assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data  # type: ignore[union-attr]
        raw.select("INBOX")
        typ, data = raw.copy("1", "Over")
        assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data  # type: ignore[union-attr]
        # MOVE within the one quota root adds nothing (RFC 6851 3.3: copy and expunge in
        # one transaction), so it is allowed even at the limit
        typ, data = raw._simple_command("MOVE", "1", "Over")  # type: ignore[attr-defined]
        assert typ == "OK", data
        typ, data = raw.status("INBOX", "(MESSAGES)")
        assert b"MESSAGES 3" in bytes(data[0])  # type: ignore[arg-type]
    finally:
        raw.logout()


def test_append_and_copy_over_storage_quota(server: MailServer, users: None) -> None:
    """The STORAGE limit alone: what does not fit is refused whole, nothing is copied."""
    with client(server, BYTES_ONLY) as c:
        c.create_folder("Dest")
        big = message(1, body_lines=50)  # 1,257 octets: two do not fit in 2K
        c.append("INBOX", big)
        assert c._get_quota("")[0].usage == 2  # 1,257 octets, rounded up to 2 units
        with pytest.raises(IMAPClientError, match="OVERQUOTA"):
            c.append("INBOX", big + big)
        c.select_folder("INBOX")
        with pytest.raises(IMAPClientError, match="OVERQUOTA"):
            c.copy([1], "Dest")
        assert c.folder_status("Dest", ["MESSAGES"])[b"MESSAGES"] == 0


def test_status_deleted_and_deleted_storage(server: MailServer) -> None:
    c = imaps(server)
    try:
        c.create("quota-status")
        sizes = [len(message(i, body_lines=60)) for i in range(3)]
        for i in range(3):
            c.append("quota-status", None, None, message(i, body_lines=60))
        typ, data = c.status("quota-status", "(MESSAGES DELETED DELETED-STORAGE)")
        assert b"(MESSAGES 3 DELETED 0 DELETED-STORAGE 0)" in bytes(data[0])  # type: ignore[arg-type]
        c.select("quota-status")
        c.store("1,3", "+FLAGS", "(\\Deleted)")
        c.unselect()
        typ, data = c.status("quota-status", "(DELETED DELETED-STORAGE)")
        expected = -(-(sizes[0] + sizes[2]) // 1024)
        assert f"(DELETED 2 DELETED-STORAGE {expected})".encode() in bytes(data[0])  # type: ignore[arg-type]
        # LIST-STATUS answers the same items
        typ, data = c._simple_command(  # type: ignore[attr-defined]
            "LIST", '""', "quota-status", "RETURN", "(STATUS (DELETED-STORAGE))"
        )
        typ, data = c._untagged_response(typ, data, "STATUS")  # type: ignore[attr-defined]
        assert f"DELETED-STORAGE {expected}".encode() in bytes(data[0])
    finally:
        c.logout()


def test_quota_commands_need_login(server: MailServer) -> None:
    c = imaps(server, None)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            c._simple_command("GETQUOTAROOT", "INBOX")  # type: ignore[attr-defined]
    finally:
        c.logout()
