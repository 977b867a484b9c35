// Prints fresh values for JWT_PRIVATE_KEY, INVITE_TOKEN_KEY and PASSWORD_PEPPER (for `wrangler secret put`).
import { generateSecrets } from "./secrets.mjs";

for (const [name, value] of Object.entries(generateSecrets())) console.log(`${name}=${value}`);
