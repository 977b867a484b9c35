CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`email_verified_at` integer,
	`last_tenant_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `accounts_email_uq` ON `accounts` (`email`);--> statement-breakpoint
CREATE TABLE `memberships` (
	`tenant_id` text NOT NULL,
	`account_id` text NOT NULL,
	`email` text NOT NULL,
	`role` text NOT NULL,
	`status` text DEFAULT 'Active' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `account_id`),
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `memberships_account_idx` ON `memberships` (`account_id`);--> statement-breakpoint
CREATE INDEX `memberships_tenant_created_idx` ON `memberships` (`tenant_id`,`created_at`,`account_id`);--> statement-breakpoint
CREATE INDEX `memberships_tenant_updated_idx` ON `memberships` (`tenant_id`,`updated_at`,`account_id`);--> statement-breakpoint
CREATE INDEX `memberships_tenant_email_idx` ON `memberships` (`tenant_id`,`email`);--> statement-breakpoint
CREATE INDEX `memberships_tenant_role_idx` ON `memberships` (`tenant_id`,`role`,`account_id`);--> statement-breakpoint
CREATE INDEX `memberships_tenant_status_idx` ON `memberships` (`tenant_id`,`status`,`account_id`);--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `account_id` text REFERENCES accounts(id);--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `tenant_id` text;