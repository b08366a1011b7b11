-- Add-ons (sqlite flavour): an add-on is a subscription with a parent
-- subscription; add-on product types are marked; the history records
-- attribute changes too. Keep in step with the other backend's folder.

ALTER TABLE subscriptions ADD COLUMN parent_subscription_id INTEGER REFERENCES subscriptions (id);
CREATE INDEX subscriptions_parent ON subscriptions (parent_subscription_id);
-- One live add-on per (parent, plan): the last word on retried and
-- concurrent Addons/Create calls (a cancelled one may be ordered again).
CREATE UNIQUE INDEX subscriptions_parent_plan ON subscriptions (parent_subscription_id, plan_id)
    WHERE parent_subscription_id IS NOT NULL AND status <> 'cancelled';

-- Which product types are sold as add-ons of a subscription (not alone).
ALTER TABLE product_types ADD COLUMN is_addon BOOLEAN NOT NULL DEFAULT 0;
UPDATE product_types SET is_addon = 1 WHERE id = 'archiving';

-- SQLite cannot alter a CHECK: the history table is rebuilt with 'attributes'
-- among its kinds, its rows copied and its indexes recreated.
CREATE TABLE subscription_changes_new (
    id                     INTEGER PRIMARY KEY,
    subscription_id        INTEGER NOT NULL REFERENCES subscriptions (id),
    customer_id            INTEGER NOT NULL REFERENCES customers (id),
    effective_at           TIMESTAMP NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('created', 'quantity', 'plan', 'status', 'attributes')),
    old_quantity           INTEGER,
    new_quantity           INTEGER NOT NULL,
    old_plan_id            INTEGER REFERENCES plans (id),
    new_plan_id            INTEGER NOT NULL REFERENCES plans (id),
    old_status             TEXT,
    new_status             TEXT NOT NULL CHECK (new_status IN ('active', 'suspended', 'cancelled')),
    source                 TEXT NOT NULL CHECK (source IN ('bss', 'console', 'distributor', 'member_platform')),
    track_id               TEXT
);
INSERT INTO subscription_changes_new (id, subscription_id, customer_id, effective_at, kind,
    old_quantity, new_quantity, old_plan_id, new_plan_id, old_status, new_status, source, track_id)
SELECT id, subscription_id, customer_id, effective_at, kind,
    old_quantity, new_quantity, old_plan_id, new_plan_id, old_status, new_status, source, track_id
FROM subscription_changes;
DROP TABLE subscription_changes;
ALTER TABLE subscription_changes_new RENAME TO subscription_changes;
CREATE INDEX subscription_changes_subscription ON subscription_changes (subscription_id, effective_at);
CREATE INDEX subscription_changes_customer ON subscription_changes (customer_id, effective_at);
CREATE INDEX subscription_changes_plan ON subscription_changes (new_plan_id, effective_at);
