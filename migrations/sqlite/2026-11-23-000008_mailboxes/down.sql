DROP TABLE mailbox_services;
DROP TABLE mailboxes;
