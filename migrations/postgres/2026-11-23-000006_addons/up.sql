-- Add-ons (postgres flavour): an add-on is a subscription with a parent
-- subscription; add-on product types are marked; the history records
-- attribute changes too. Keep in step with the other backend's folder.

ALTER TABLE subscriptions ADD COLUMN parent_subscription_id BIGINT REFERENCES subscriptions (id);
CREATE INDEX subscriptions_parent ON subscriptions (parent_subscription_id);
-- One live add-on per (parent, plan): the last word on retried and
-- concurrent Addons/Create calls (a cancelled one may be ordered again).
CREATE UNIQUE INDEX subscriptions_parent_plan ON subscriptions (parent_subscription_id, plan_id)
    WHERE parent_subscription_id IS NOT NULL AND status <> 'cancelled';

-- Which product types are sold as add-ons of a subscription (not alone).
ALTER TABLE product_types ADD COLUMN is_addon BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE product_types SET is_addon = TRUE WHERE id = 'archiving';

-- The history records attribute changes too.
ALTER TABLE subscription_changes DROP CONSTRAINT subscription_changes_kind_check;
ALTER TABLE subscription_changes ADD CONSTRAINT subscription_changes_kind_check
    CHECK (kind IN ('created', 'quantity', 'plan', 'status', 'attributes'));
