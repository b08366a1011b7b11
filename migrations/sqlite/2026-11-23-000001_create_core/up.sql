-- Core tables of the service-manager contract (SQLite flavour).
-- Keep in step with migrations/postgres: src/store/schema.rs describes both.

CREATE TABLE applications (
    id          INTEGER PRIMARY KEY,
    app_id      TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);

CREATE TABLE customers (
    id                    INTEGER PRIMARY KEY,
    external_id           TEXT NOT NULL UNIQUE,
    application_id        INTEGER NOT NULL REFERENCES applications (id),
    bss_account_id        TEXT,
    reseller_bss_id       TEXT,
    reseller_external_id  TEXT,
    reseller_customer_id  INTEGER REFERENCES customers (id),
    name                  TEXT NOT NULL,
    code                  TEXT,
    phone                 TEXT,
    fax                   TEXT,
    website               TEXT,
    email                 TEXT,
    description           TEXT,
    extra_details         TEXT NOT NULL DEFAULT '{}',
    account_extra_info    TEXT NOT NULL DEFAULT '{}',
    is_test               BOOLEAN NOT NULL DEFAULT 0,
    status                TEXT NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'suspended', 'deleted')),
    password_hash         TEXT,
    -- SHA-256 of the last submission applied: an identical retry writes nothing.
    sync_fingerprint      TEXT,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL,
    deleted_at            TIMESTAMP,
    deleted_by            TEXT,
    -- Idempotency of Synchronize: one customer per BSS account and application.
    UNIQUE (application_id, bss_account_id)
);
CREATE INDEX customers_reseller_customer_id ON customers (reseller_customer_id);

CREATE TABLE contacts (
    customer_id     INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    bss_contact_id  TEXT,
    first_name      TEXT,
    last_name       TEXT,
    phone           TEXT,
    fax             TEXT,
    email           TEXT
);

CREATE TABLE addresses (
    customer_id   INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    address1      TEXT,
    address2      TEXT,
    city          TEXT,
    post_code     TEXT,
    state_code    TEXT,
    state_name    TEXT,
    country_code  TEXT,
    country_name  TEXT
);

CREATE TABLE sync_option_definitions (
    id                       TEXT PRIMARY KEY,
    sort_order               INTEGER NOT NULL DEFAULT 0,
    name                     TEXT NOT NULL,
    description              TEXT,
    kind                     TEXT NOT NULL,
    data_type                TEXT NOT NULL,
    is_required              BOOLEAN NOT NULL DEFAULT 0,
    predefined_values        TEXT NOT NULL DEFAULT '[]',
    is_read_only             BOOLEAN NOT NULL DEFAULT 0,
    available_to_storefront  BOOLEAN NOT NULL DEFAULT 0,
    identifies_customer      BOOLEAN NOT NULL DEFAULT 0,
    value_format             TEXT NOT NULL DEFAULT 'text'
                             CHECK (value_format IN ('text', 'domain', 'username')),
    created_at               TIMESTAMP NOT NULL,
    updated_at               TIMESTAMP NOT NULL
);

CREATE TABLE customer_sync_options (
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    option_id    TEXT NOT NULL REFERENCES sync_option_definitions (id),
    value        TEXT NOT NULL,
    PRIMARY KEY (customer_id, option_id)
);

-- Values of identifying options (domain, username), normalized. The primary
-- key makes each value belong to one customer across all applications.
CREATE TABLE customer_identities (
    option_id         TEXT NOT NULL REFERENCES sync_option_definitions (id),
    normalized_value  TEXT NOT NULL,
    customer_id       INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (option_id, normalized_value)
);
CREATE INDEX customer_identities_customer_id ON customer_identities (customer_id);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    occurred_at     TIMESTAMP NOT NULL,
    application_id  INTEGER,
    track_id        TEXT,
    endpoint        TEXT NOT NULL,
    bss_account_id  TEXT,
    external_id     TEXT,
    result_code     INTEGER NOT NULL,
    http_status     INTEGER NOT NULL,
    duration_us     BIGINT NOT NULL,
    request_body    TEXT
);
-- Rows are listed newest first by id (ids follow time); one index per
-- customer trail. Every index costs each audited call a B-tree insert.
CREATE INDEX audit_log_external_id ON audit_log (external_id, id);

INSERT INTO sync_option_definitions
    (id, sort_order, name, description, kind, data_type, is_required, predefined_values,
     is_read_only, available_to_storefront, identifies_customer, value_format, created_at, updated_at)
VALUES
    ('username', 0, 'Username', NULL, 'SimpleValue', 'Text', 1, '[]', 0, 0, 1, 'username',
     CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('domain', 1, 'Mail domain', 'The domain your mailboxes will use, for example example.com.',
     'SimpleValue', 'Text', 1, '[]', 0, 1, 1, 'domain', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
