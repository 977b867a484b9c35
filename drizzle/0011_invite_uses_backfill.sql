-- Custom migration: invites redeemed before maxUses existed were single-use and are spent.
UPDATE `invites` SET `uses` = 1 WHERE `used_at` IS NOT NULL;
