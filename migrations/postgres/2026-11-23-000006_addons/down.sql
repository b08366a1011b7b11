DELETE FROM subscription_changes WHERE kind = 'attributes';
ALTER TABLE subscription_changes DROP CONSTRAINT subscription_changes_kind_check;
ALTER TABLE subscription_changes ADD CONSTRAINT subscription_changes_kind_check
    CHECK (kind IN ('created', 'quantity', 'plan', 'status'));

ALTER TABLE product_types DROP COLUMN is_addon;

DROP INDEX subscriptions_parent_plan;
DROP INDEX subscriptions_parent;
ALTER TABLE subscriptions DROP COLUMN parent_subscription_id;
