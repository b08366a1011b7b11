DROP TABLE activation_tokens;
DROP TABLE outbox;
DROP TABLE email_template_revisions;
DROP TABLE email_templates;
DROP TABLE operator_sessions;
DROP TABLE operators;
ALTER TABLE customers DROP COLUMN activated_at;
