DROP INDEX `account_tokens_expires_idx`;--> statement-breakpoint
DROP INDEX `events_occurred_idx`;--> statement-breakpoint
DROP INDEX `mail_outbox_subject_idx`;--> statement-breakpoint
DROP INDEX `mail_outbox_updated_idx`;--> statement-breakpoint
DROP INDEX `refresh_tokens_expires_idx`;