DROP INDEX subscriptions_source;
DROP INDEX subscriptions_status;
DROP INDEX subscriptions_created;
