// Fresh development/test secrets: an Ed25519 signing JWK and a 32-byte AES key.
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";

export function generateSecrets() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: `dev-${randomUUID().slice(0, 8)}` };
  return {
    JWT_PRIVATE_KEY: JSON.stringify(jwk),
    INVITE_TOKEN_KEY: randomBytes(32).toString("base64"),
    PASSWORD_PEPPER: randomBytes(32).toString("base64url"),
  };
}

export function toDevVars(secrets) {
  return Object.entries(secrets)
    // Single quotes: dotenv keeps the JSON of the JWK literally (double quotes would need escaping).
    .map(([name, value]) => `${name}='${value}'`)
    .join("\n") + "\n";
}
