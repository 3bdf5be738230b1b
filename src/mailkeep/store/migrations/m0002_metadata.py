"""IMAP METADATA (RFC 5464): annotations of the user's mailboxes and of the server as the
user sees it (mailbox_id 0; real ids start at 1). A deleted mailbox takes its annotations
with it (RFC 5464 4.1), by trigger, so no delete path can forget them; a renamed one keeps
them, since they hang on the id. (The trigger body stays on one line: ``migrate`` splits
statements at ";" + newline.)"""

VERSION = 2

SQL = """
CREATE TABLE metadata (
    mailbox_id INTEGER NOT NULL,
    entry TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (mailbox_id, entry)
) WITHOUT ROWID;
CREATE TRIGGER metadata_follows_mailbox AFTER DELETE ON mailboxes
BEGIN DELETE FROM metadata WHERE mailbox_id = old.id; END
"""
