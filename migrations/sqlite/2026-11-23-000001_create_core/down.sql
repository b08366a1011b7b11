DROP TABLE audit_log;
DROP TABLE customer_identities;
DROP TABLE customer_sync_options;
DROP TABLE sync_option_definitions;
DROP TABLE addresses;
DROP TABLE contacts;
DROP TABLE customers;
DROP TABLE applications;
