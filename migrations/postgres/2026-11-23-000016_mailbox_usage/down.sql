DROP TABLE mailbox_usage_changes;
