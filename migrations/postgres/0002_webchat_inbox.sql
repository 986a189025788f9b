-- handoff schema, step 2 (PostgreSQL): what the web chat and the inbox keep,
-- and the card's display details on cases. Keep in step with
-- ../sqlite/0002_webchat_inbox.sql.

-- Customer, escalation details, facts and what was tried, as the card shows
-- them; every re-rendering of the card reads them from here.
ALTER TABLE cases ADD COLUMN details JSONB NOT NULL DEFAULT '{}';

-- Web chat sessions: the browser keeps a bearer token, only its SHA-256 is
-- stored. `conversation` is the conversation key (per session, or per
-- verified site user so that user sees their history on any device).
CREATE TABLE webchat_sessions (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    conversation  TEXT NOT NULL,
    user_id       TEXT,
    display_name  TEXT,
    email         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX webchat_sessions_by_conversation ON webchat_sessions (conversation);

-- What a web chat visitor sees, in order: their own messages (stored in the
-- same transaction as the inbound event) and everything delivered to them.
-- `dedupe` is the client's message id or the outbox idempotency key, so a
-- resend or a redelivery is one row.
CREATE TABLE webchat_feed (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation  TEXT NOT NULL,
    dedupe        TEXT NOT NULL,
    author        TEXT NOT NULL CHECK (author IN ('customer', 'agent', 'bot')),
    author_name   TEXT,
    kind          TEXT NOT NULL DEFAULT 'message',
    body          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation, dedupe)
);

-- The inbox's copy of each handoff card, as the outbox last delivered it.
CREATE TABLE inbox_cards (
    case_id     TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    content     JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Secrets handoff generates once and keeps (cookie and link signing keys).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
