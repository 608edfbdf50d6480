-- What one node keeps (src/server/broker/sqlite/). Ids are MessageId's two numbers,
-- `ms` and `seq`, compared as a pair; every table is keyed by room first.

-- Each message as it stands: what history reads. A deleted message keeps its row (so
-- that its id and `client_key` stay taken); its text is erased a day after the delete
-- (a stream resuming from before the delete replays it, then the delete, until then).
CREATE TABLE messages (
    room       TEXT    NOT NULL,
    ms         INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    -- The ChatMessage as JSON, as it stands; '' once erased.
    body       TEXT    NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    -- When it was deleted (wall ms).
    deleted_ms INTEGER,
    -- The posting session and its `client_id`: a repeat answers the first message.
    client_key TEXT,
    PRIMARY KEY (room, ms, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_by_client_key ON messages (room, client_key)
    WHERE client_key IS NOT NULL;

-- A room's log: every message and every change to one, each with an id of its own.
-- `kind` 0 is a message (`of` is itself), 1 an update of message `of`, 2 its delete.
CREATE TABLE entries (
    room   TEXT    NOT NULL,
    ms     INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    kind   INTEGER NOT NULL,
    of_ms  INTEGER NOT NULL,
    of_seq INTEGER NOT NULL,
    PRIMARY KEY (room, ms, seq)
) WITHOUT ROWID;

-- Every room with messages: its newest message (the room list's order) and its newest
-- entry (the largest of which is where ids go on after a restart).
CREATE TABLE rooms (
    name       TEXT    PRIMARY KEY,
    message_ms INTEGER NOT NULL,
    entry_ms   INTEGER NOT NULL,
    entry_seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Which session holds which name (keyed by `DisplayName::key`), until when.
CREATE TABLE holds (
    key        TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Small facts about the database; `probe` is what a failing node writes to learn that it
-- can write again.
CREATE TABLE meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
