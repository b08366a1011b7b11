ALTER TABLE outbox DROP COLUMN mailbox_id;
DROP INDEX activation_tokens_mailbox_id;
ALTER TABLE activation_tokens DROP COLUMN mailbox_id;
