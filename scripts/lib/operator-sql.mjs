// The statement `npm run operator` runs (scripts/operator.mjs). Pure, so a test runs it against D1.
// `wrangler d1 execute --command` takes no bound parameters, so the email is checked against the API's own
// email rule (zod's, ≤ 255 characters, stored lower-cased) and quoted as an SQL string literal; anything
// else is refused before any SQL exists.

const EMAIL_MAX_LENGTH = 255;
// zod's z.email() pattern: the same addresses the API accepts at sign-up and registration.
const EMAIL = /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;

export const OPERATOR_ACTIONS = ["grant", "revoke"];

export class OperatorInputError extends Error {}

/** `email` as stored (trimmed, lower-cased), or an OperatorInputError saying why it is not one. */
export function operatorEmail(raw) {
  const email = String(raw ?? "").trim().toLowerCase();
  if (email.length === 0 || email.length > EMAIL_MAX_LENGTH || !EMAIL.test(email)) {
    throw new OperatorInputError(`not an email address the API would accept: ${JSON.stringify(String(raw ?? "").slice(0, 80))}`);
  }
  return email;
}

/** An SQL string literal: single quotes doubled (the only character SQLite treats specially inside one). */
const literal = (text) => `'${text.replaceAll("'", "''")}'`;

/**
 * The UPDATE that marks (grant) or unmarks (revoke) the account with `email` as a platform operator. It
 * returns the account, so the caller can tell an unknown email (no row) from a change; `now` is updated_at.
 */
export function operatorStatement(action, rawEmail, now = Date.now()) {
  if (!OPERATOR_ACTIONS.includes(action)) throw new OperatorInputError(`action must be grant or revoke, not ${JSON.stringify(String(action).slice(0, 40))}`);
  if (!Number.isSafeInteger(now)) throw new OperatorInputError("now must be an integer (epoch ms)");
  const email = operatorEmail(rawEmail);
  return `UPDATE accounts SET is_operator = ${action === "grant" ? 1 : 0}, updated_at = ${now} WHERE email = ${literal(email)} RETURNING id, email, is_operator`;
}
