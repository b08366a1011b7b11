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

-- The set-password mail of an operator (invitation or reset): rendered at
-- send time with a fresh link, like a mailbox's.
ALTER TABLE outbox ADD COLUMN operator_id INTEGER;

-- Two-factor sign-in (TOTP). The secret is kept in base32 so that codes can
-- be checked; it should be sealed with the integrations' secret key once that
-- exists. A secret without totp_enabled_at is an enrolment not yet confirmed.
ALTER TABLE operators ADD COLUMN totp_secret TEXT;
ALTER TABLE operators ADD COLUMN totp_enabled_at TIMESTAMP;
-- The last time step a code was taken for: a code works once.
ALTER TABLE operators ADD COLUMN totp_last_step BIGINT;

-- One-time recovery codes, SHA-256 only.
CREATE TABLE operator_recovery_codes (
    code_hash    TEXT PRIMARY KEY,
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    used_at      TIMESTAMP
);
CREATE INDEX operator_recovery_codes_operator_id ON operator_recovery_codes (operator_id);

-- A sign-in whose password was right and whose second factor is awaited.
CREATE TABLE operator_sign_in_challenges (
    token_hash   TEXT PRIMARY KEY,
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX operator_sign_in_challenges_operator_id ON operator_sign_in_challenges (operator_id);

-- The dashboard's aggregates: each one an index-only count.
CREATE INDEX customers_status ON customers (status);
CREATE INDEX customers_created_at ON customers (created_at);
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at, endpoint, result_code);
