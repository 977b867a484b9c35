// `npm run operator -- grant|revoke <email> [--remote] [--persist-to <dir>]`: marks an account as a platform
// operator (DESIGN §2.9), or unmarks it. The only way to make one: no API route grants it. Runs
// `wrangler d1 execute` on the DB binding, local (wrangler dev's database) unless --remote.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, TOOL_ENV } from "./lib/local-worker.mjs";
import { OperatorInputError, operatorStatement } from "./lib/operator-sql.mjs";

const USAGE = "usage: npm run operator -- grant|revoke <email> [--remote] [--persist-to <dir>]";

function parse(argv) {
  const positional = [];
  let remote = false;
  let persistTo;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--remote") remote = true;
    else if (argv[i] === "--persist-to") persistTo = argv[++i];
    else if (argv[i].startsWith("--")) throw new OperatorInputError(`unknown option ${argv[i]}`);
    else positional.push(argv[i]);
  }
  if (positional.length !== 2) throw new OperatorInputError(USAGE);
  if (remote && persistTo !== undefined) throw new OperatorInputError("--persist-to is for the local database only");
  return { action: positional[0], email: positional[1], remote, persistTo };
}

try {
  const { action, email, remote, persistTo } = parse(process.argv.slice(2));
  const sql = operatorStatement(action, email);
  const args = ["d1", "execute", "DB", remote ? "--remote" : "--local", "--json", "--yes", "--command", sql];
  if (persistTo !== undefined) args.push("--persist-to", persistTo);
  let output;
  try {
    output = execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), args, { cwd: ROOT, env: TOOL_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    console.error(`wrangler d1 execute failed:\n${error.stdout ?? ""}${error.stderr ?? ""}`);
    process.exit(1);
  }
  const rows = JSON.parse(output).flatMap((result) => result.results ?? []);
  if (rows.length === 0) {
    console.error(`no account has the email ${email.trim().toLowerCase()} in the ${remote ? "remote" : "local"} database; nothing changed`);
    process.exit(1);
  }
  console.log(`${rows[0].email} (${rows[0].id}) ${action === "grant" ? "is now" : "is no longer"} a platform operator (${remote ? "remote" : "local"} database)`);
} catch (error) {
  if (!(error instanceof OperatorInputError)) throw error;
  console.error(`operator: ${error.message}`);
  process.exit(2);
}
