"""The first schema: mailboxes, messages, shared contents, the full-text index, expunges."""

VERSION = 1

SQL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('modseq', 1), ('uidvalidity', 0),
    ('bytes', 0), ('messages', 0);
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    recent_from INTEGER NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE mailbox_keywords (
    mailbox_id INTEGER NOT NULL,
    keyword TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, keyword)
) WITHOUT ROWID;
CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE contents (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    sent_date INTEGER,
    sent_tz INTEGER,
    subject TEXT NOT NULL,
    base_subject TEXT NOT NULL,
    sort_from TEXT NOT NULL,
    sort_to TEXT NOT NULL,
    sort_cc TEXT NOT NULL,
    display_from TEXT NOT NULL,
    display_to TEXT NOT NULL,
    message_id TEXT NOT NULL,
    in_reply_to TEXT NOT NULL,
    refs TEXT NOT NULL,
    f_subject TEXT NOT NULL,
    f_from TEXT NOT NULL,
    f_to TEXT NOT NULL,
    f_cc TEXT NOT NULL,
    f_bcc TEXT NOT NULL,
    preview TEXT NOT NULL,
    info BLOB NOT NULL
);
CREATE TABLE envelopes (
    content_id INTEGER PRIMARY KEY,
    envelope BLOB NOT NULL
);
CREATE TABLE messages (
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    content_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    internal_tz INTEGER NOT NULL,
    save_date INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_content ON messages (content_id);
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);
CREATE VIRTUAL TABLE fts USING fts5 (
    h, b, tokenize = 'trigram case_sensitive 1', detail = none
);
CREATE TABLE index_queue (
    content_id INTEGER PRIMARY KEY,
    h TEXT NOT NULL,
    b TEXT NOT NULL
)
"""
