CREATE TABLE `account_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`purpose` text NOT NULL,
	`token_hash` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `account_tokens_hash_uq` ON `account_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `account_tokens_account_idx` ON `account_tokens` (`account_id`,`purpose`);--> statement-breakpoint
CREATE INDEX `account_tokens_expires_idx` ON `account_tokens` (`expires_at`);--> statement-breakpoint
CREATE TABLE `dev_caught_mail` (
	`id` text PRIMARY KEY NOT NULL,
	`recipient` text NOT NULL,
	`subject` text NOT NULL,
	`text` text NOT NULL,
	`html` text NOT NULL,
	`link` text,
	`sent_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dev_caught_mail_sent_idx` ON `dev_caught_mail` (`sent_at`,`id`);--> statement-breakpoint
CREATE TABLE `mail_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`subject_id` text NOT NULL,
	`version` text NOT NULL,
	`recipient` text NOT NULL,
	`locale` text NOT NULL,
	`payload` text DEFAULT '{}' NOT NULL,
	`secret_ciphertext` text,
	`status` text DEFAULT 'Queued' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`last_attempt_at` integer,
	`sent_at` integer,
	`error` text,
	`enqueued_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `mail_outbox_status_enqueued_idx` ON `mail_outbox` (`status`,`enqueued_at`);--> statement-breakpoint
CREATE INDEX `mail_outbox_subject_idx` ON `mail_outbox` (`subject_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `mail_outbox_updated_idx` ON `mail_outbox` (`updated_at`);--> statement-breakpoint
ALTER TABLE `invites` ADD `delivery_status` text DEFAULT 'NotRequested' NOT NULL;--> statement-breakpoint
ALTER TABLE `invites` ADD `delivery_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `invites` ADD `delivery_last_attempt_at` integer;--> statement-breakpoint
ALTER TABLE `invites` ADD `delivery_sent_at` integer;--> statement-breakpoint
ALTER TABLE `invites` ADD `delivery_error` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `last_mail_requested_at` integer;--> statement-breakpoint
ALTER TABLE `invites` ADD `last_mail_job_id` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `locale` text DEFAULT 'en' NOT NULL;