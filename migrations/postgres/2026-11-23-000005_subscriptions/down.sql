DROP TABLE subscription_changes;
DROP TABLE subscriptions;
