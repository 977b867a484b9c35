-- Custom migration (drizzle-kit generate --custom): moves every user into an account plus one
-- membership, keeping ids (invites.created_by/used_by, JWT `sub` and refresh tokens stay valid),
-- password hashes, roles, statuses and timestamps. The users table is dropped by the next migration.
INSERT INTO `accounts` (`id`, `email`, `password_hash`, `email_verified_at`, `last_tenant_id`, `created_at`, `updated_at`)
SELECT `id`, `email`, `password_hash`, NULL, `tenant_id`, `created_at`, `updated_at` FROM `users`;
--> statement-breakpoint
INSERT INTO `memberships` (`tenant_id`, `account_id`, `email`, `role`, `status`, `created_at`, `updated_at`)
SELECT `tenant_id`, `id`, `email`, `role`, `status`, `created_at`, `updated_at` FROM `users`;
--> statement-breakpoint
-- A refresh token is now one (account, tenant) session: a user's tokens belonged to its only tenant.
UPDATE `refresh_tokens`
SET `account_id` = `user_id`, `tenant_id` = (SELECT `tenant_id` FROM `users` WHERE `users`.`id` = `refresh_tokens`.`user_id`);
--> statement-breakpoint
-- Triggers are not part of Drizzle's schema model. memberships.email is a copy of the account's
-- email (so the users list sorts by email from an index); this keeps every copy equal on any change.
CREATE TRIGGER `accounts_email_after_update` AFTER UPDATE OF `email` ON `accounts`
BEGIN
  UPDATE `memberships` SET `email` = NEW.`email` WHERE `account_id` = NEW.`id`;
END;
