-- Integrations (sqlite flavour): each outside platform's settings (secrets
-- sealed with an AEAD, never in clear), the durable scheduled jobs with their
-- leases and run history, and the PSA quantity sync's mappings.
-- Keep in step with the other backend's folder.

-- One row per integration (IntegrationKind::key).
CREATE TABLE integrations (
    kind             TEXT PRIMARY KEY,
    enabled          BOOLEAN NOT NULL DEFAULT 0,
    -- Plain settings: a JSON object of strings by SettingField::key.
    settings         TEXT NOT NULL DEFAULT '{}',
    -- Secret settings: a JSON object of strings, sealed (key id, nonce,
    -- ciphertext); NULL when none were given.
    sealed_secrets   TEXT,
    -- When it was last enabled: work older than this is never exported.
    enabled_at       TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL
);

-- A job run on a schedule by whichever instance holds its lease.
CREATE TABLE scheduled_jobs (
    name              TEXT PRIMARY KEY,
    -- A cron expression read in an IANA timezone.
    cron              TEXT NOT NULL,
    timezone          TEXT NOT NULL,
    next_run_at       TIMESTAMP NOT NULL,
    -- "Run now": due at once, whatever next_run_at says.
    run_requested_at  TIMESTAMP,
    -- Retries so far of a transiently failed run (0 after a success).
    attempt           INTEGER NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_until       TIMESTAMP,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX scheduled_jobs_due ON scheduled_jobs (next_run_at);

CREATE TABLE job_runs (
    id           INTEGER PRIMARY KEY,
    job_name     TEXT NOT NULL REFERENCES scheduled_jobs (name),
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry')),
    attempt      INTEGER NOT NULL,
    -- The instance that ran it.
    instance     TEXT NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    outcome      TEXT NOT NULL
                 CHECK (outcome IN ('running', 'succeeded', 'completed_with_failures', 'failed')),
    -- A JSON object of counts by name (RunReport::counts).
    counts       TEXT NOT NULL DEFAULT '{}',
    -- Why the run failed as a whole.
    error        TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job_name, started_at DESC, id DESC);

-- Each item of a run that failed, and why.
CREATE TABLE job_run_failures (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    item     TEXT NOT NULL,
    reason   TEXT NOT NULL
);
CREATE INDEX job_run_failures_run ON job_run_failures (run_id);

-- A plan (or add-on plan) mapped to a PSA catalog item; no row is "Not
-- Assigned".
CREATE TABLE psa_service_mappings (
    plan_id              INTEGER PRIMARY KEY REFERENCES plans (id) ON DELETE CASCADE,
    catalog_item_id      INTEGER NOT NULL,
    catalog_identifier   TEXT NOT NULL,
    catalog_description  TEXT NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);

-- A customer's PSA company and agreement; only customers with a row take
-- part in the quantity sync.
CREATE TABLE psa_customer_agreements (
    customer_id     INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    company_id      INTEGER NOT NULL,
    company_name    TEXT NOT NULL,
    agreement_id    INTEGER NOT NULL,
    agreement_name  TEXT NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
