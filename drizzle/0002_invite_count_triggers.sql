-- Custom migration (drizzle-kit generate --custom): triggers are not part of Drizzle's schema model.
-- tenants.invite_count follows every insert and delete on invites, on every path (create, purge,
-- operator SQL), in the same statement, so an unfiltered list's `total` needs no COUNT scan.
UPDATE `tenants` SET `invite_count` = (SELECT COUNT(*) FROM `invites` WHERE `invites`.`tenant_id` = `tenants`.`id`);
--> statement-breakpoint
CREATE TRIGGER `invites_count_after_insert` AFTER INSERT ON `invites`
BEGIN
  UPDATE `tenants` SET `invite_count` = `invite_count` + 1 WHERE `id` = NEW.`tenant_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `invites_count_after_delete` AFTER DELETE ON `invites`
BEGIN
  UPDATE `tenants` SET `invite_count` = `invite_count` - 1 WHERE `id` = OLD.`tenant_id`;
END;
