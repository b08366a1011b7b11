-- Set-password links of mailboxes (postgres flavour): the activation tokens
-- and the outbox of the access mail, with the mailbox they are for.
-- Keep in step with the other backend's folder.
--
-- NULL for a customer's own activation link. No foreign key: SQLite cannot
-- drop a column that has one, and a token whose mailbox is gone finds no
-- mailbox (the link is refused as unknown), a mail whose mailbox is gone is
-- cancelled when its turn comes.
ALTER TABLE activation_tokens ADD COLUMN mailbox_id BIGINT;
CREATE INDEX activation_tokens_mailbox_id ON activation_tokens (mailbox_id);
ALTER TABLE outbox ADD COLUMN mailbox_id BIGINT;
