-- What many nodes keep (src/server/broker/postgres/), the twin of
-- migrations/sqlite/0001_kept.sql. Ids are MessageId's two numbers, `ms` and `seq`,
-- compared as a pair; every table is keyed by room first.

-- Each message as it stands: what history reads. A deleted message keeps its row (so
-- that its id and `client_key` stay taken); its text is erased a day after the delete.
CREATE TABLE messages (
    room       TEXT    NOT NULL,
    ms         BIGINT  NOT NULL,
    seq        BIGINT  NOT NULL,
    -- The ChatMessage as JSON, as it stands; '' once erased.
    body       TEXT    NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT false,
    -- When it was deleted (wall ms).
    deleted_ms BIGINT,
    -- The posting session and its `client_id`: a repeat answers the first message.
    client_key TEXT,
    PRIMARY KEY (room, ms, seq)
);

CREATE UNIQUE INDEX messages_by_client_key ON messages (room, client_key)
    WHERE client_key IS NOT NULL;

-- A room's log: every message and every change to one, each with an id of its own.
-- `kind` 0 is a message (`of` is itself), 1 an update of message `of`, 2 its delete.
CREATE TABLE entries (
    room   TEXT     NOT NULL,
    ms     BIGINT   NOT NULL,
    seq    BIGINT   NOT NULL,
    kind   SMALLINT NOT NULL,
    of_ms  BIGINT   NOT NULL,
    of_seq BIGINT   NOT NULL,
    PRIMARY KEY (room, ms, seq)
);

-- Every room written to. Its row is what orders the writes of every node to the room:
-- a writer locks it first, and `entry_ms`/`entry_seq` (its newest entry; 0-0 for none)
-- are where the room's next id and the chain of its entries go on from. `message_ms`
-- orders the room list (NULL: no message yet).
CREATE TABLE rooms (
    name       TEXT   PRIMARY KEY,
    message_ms BIGINT,
    entry_ms   BIGINT NOT NULL DEFAULT 0,
    entry_seq  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX rooms_by_message ON rooms (message_ms DESC) WHERE message_ms IS NOT NULL;

-- Which session holds which name (keyed by `DisplayName::key`), until when.
CREATE TABLE holds (
    key        TEXT   PRIMARY KEY,
    session_id TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- What every node shares: `secret`, the key that signs sessions when CHAT_SECRET is not
-- set (made by the first node to start); `probe`, what a failing node writes to learn
-- that it can write again.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
