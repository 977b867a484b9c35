ALTER TABLE `invites` ADD `max_uses` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `invites` ADD `uses` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `invites` ADD `allowed_domains` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `redirect_url` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `public_metadata` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `private_metadata` text;--> statement-breakpoint
ALTER TABLE `invites` ADD `last_redemption_id` text;--> statement-breakpoint
ALTER TABLE `memberships` ADD `metadata` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `invite_policy` text DEFAULT 'AdminsOnly' NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `redirect_origins` text DEFAULT '[]' NOT NULL;