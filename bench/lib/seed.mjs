// Bulk invite rows for the bench, in the exact at-rest format of src/security/tokens.ts:
// token "inv_" + base64url(32 bytes), token_hash = hex SHA-256, token_ciphertext = base64(iv(12) || AES-256-GCM ciphertext+tag).
import { createCipheriv, createHash, randomBytes, randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";

const DAY_MS = 24 * 60 * 60 * 1000;
const ROLES = ["Developer", "Viewer", "Developer", "Admin"];

export function newInviteToken() {
  return `inv_${randomBytes(32).toString("base64url")}`;
}

export function encryptToken(keyBase64, token) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(keyBase64, "base64"), iv);
  const sealed = Buffer.concat([cipher.update(token, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([iv, sealed]).toString("base64");
}

const sha256Hex = (value) => createHash("sha256").update(value).digest("hex");
const sqlValue = (value) => (value === null ? "NULL" : typeof value === "number" ? String(value) : `'${String(value).replaceAll("'", "''")}'`);

/**
 * `count` invites of one tenant, oldest first, created one minute apart up to `now`. With `mixStatuses`,
 * every 10th is used, every 20th revoked and every 10th (offset 5) expired, like a tenant with history;
 * otherwise all are pending. Returns the SQL statements and the plaintext tokens of the pending invites.
 */
export function inviteRows({ tenantId, createdBy, count, keyBase64, now = Date.now(), mixStatuses = false, role }) {
  const statements = [];
  const pendingTokens = [];
  const BATCH = 250;
  let values = [];
  for (let i = 0; i < count; i++) {
    const createdAt = now - (count - i) * 60_000;
    const token = newInviteToken();
    let status = "Pending";
    if (mixStatuses) {
      if (i % 10 === 0) status = "Used";
      else if (i % 20 === 3) status = "Revoked";
      else if (i % 10 === 5) status = "Expired";
    }
    // Pending invites expire 1–30 days from now (so expiresAt order differs from id order).
    const expiresAt = status === "Expired" ? createdAt + DAY_MS : now + (1 + ((i * 7919) % 30)) * DAY_MS - (i % 1000);
    const usedAt = status === "Used" ? createdAt + 60_000 : null;
    const revokedAt = status === "Revoked" ? createdAt + 60_000 : null;
    if (status === "Pending") pendingTokens.push(token);
    values.push(
      `(${[
        uuidv7({ msecs: createdAt }),
        tenantId,
        sha256Hex(token),
        encryptToken(keyBase64, token),
        role ?? ROLES[i % ROLES.length],
        null,
        createdBy,
        expiresAt,
        usedAt,
        usedAt === null ? null : randomUUID(),
        revokedAt,
        createdAt,
        usedAt ?? revokedAt ?? createdAt,
      ]
        .map(sqlValue)
        .join(",")})`,
    );
    if (values.length === BATCH || i === count - 1) {
      statements.push(
        "INSERT INTO invites (id, tenant_id, token_hash, token_ciphertext, target_role, email, created_by, expires_at, used_at, used_by, revoked_at, created_at, updated_at) VALUES\n" +
          values.join(",\n") +
          ";",
      );
      values = [];
    }
  }
  return { statements, pendingTokens };
}
