-- The history table goes back to its CHECK without 'attributes' (those rows
-- are dropped), then the add-on columns go.
CREATE TABLE subscription_changes_old (
    id                     INTEGER PRIMARY KEY,
    subscription_id        INTEGER NOT NULL REFERENCES subscriptions (id),
    customer_id            INTEGER NOT NULL REFERENCES customers (id),
    effective_at           TIMESTAMP NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('created', 'quantity', 'plan', 'status')),
    old_quantity           INTEGER,
    new_quantity           INTEGER NOT NULL,
    old_plan_id            INTEGER REFERENCES plans (id),
    new_plan_id            INTEGER NOT NULL REFERENCES plans (id),
    old_status             TEXT,
    new_status             TEXT NOT NULL CHECK (new_status IN ('active', 'suspended', 'cancelled')),
    source                 TEXT NOT NULL CHECK (source IN ('bss', 'console', 'distributor', 'member_platform')),
    track_id               TEXT
);
INSERT INTO subscription_changes_old (id, subscription_id, customer_id, effective_at, kind,
    old_quantity, new_quantity, old_plan_id, new_plan_id, old_status, new_status, source, track_id)
SELECT id, subscription_id, customer_id, effective_at, kind,
    old_quantity, new_quantity, old_plan_id, new_plan_id, old_status, new_status, source, track_id
FROM subscription_changes WHERE kind <> 'attributes';
DROP TABLE subscription_changes;
ALTER TABLE subscription_changes_old RENAME TO subscription_changes;
CREATE INDEX subscription_changes_subscription ON subscription_changes (subscription_id, effective_at);
CREATE INDEX subscription_changes_customer ON subscription_changes (customer_id, effective_at);
CREATE INDEX subscription_changes_plan ON subscription_changes (new_plan_id, effective_at);

ALTER TABLE product_types DROP COLUMN is_addon;

DROP INDEX subscriptions_parent_plan;
DROP INDEX subscriptions_parent;
ALTER TABLE subscriptions DROP COLUMN parent_subscription_id;
