-- What operators did: one row per action, written in the action's own
-- transaction (sign-in attempts right after them). Keep in step with the
-- other backend's folder.
CREATE TABLE operator_audit (
    id              INTEGER PRIMARY KEY,
    occurred_at     TIMESTAMP NOT NULL,
    -- Null for a failed sign-in with an unknown email.
    operator_id     INTEGER REFERENCES operators (id),
    -- The email as given: names the actor even for a failed sign-in.
    operator_email  TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT,
    source_address  TEXT,
    -- JSON, secrets masked.
    before_state    TEXT,
    after_state     TEXT
);
-- The Audit page lists newest first (ids follow time), filtered by
-- operator, action and a time range.
CREATE INDEX operator_audit_occurred_at ON operator_audit (occurred_at);
CREATE INDEX operator_audit_operator ON operator_audit (operator_email, id);
CREATE INDEX operator_audit_action ON operator_audit (action, id);

-- Shown on the Operators page.
ALTER TABLE operators ADD COLUMN last_sign_in_at TIMESTAMP;

-- One-time links with which an invited operator sets a first password, or
-- an operator a new one. Only the SHA-256 of the token is stored.
CREATE TABLE operator_password_tokens (
    token_hash   TEXT PRIMARY KEY,
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    outbox_id    INTEGER,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP
);
CREATE INDEX operator_password_tokens_operator_id ON operator_password_tokens (operator_id);
