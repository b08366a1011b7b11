DROP TABLE plans;
DROP TABLE product_type_attributes;
DROP TABLE product_types;
