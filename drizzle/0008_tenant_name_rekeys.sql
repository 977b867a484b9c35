CREATE TABLE `tenant_name_rekeys` (
	`tenant_id` text PRIMARY KEY NOT NULL
);
