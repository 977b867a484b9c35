// The browser part of the e2e run: Debian's `chromium` (never a downloaded browser) driven headless by
// playwright-core, JavaScript off, through the mailed link of an invite to the hosted page and back.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LAUNCH_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const INSTALL_HINT = "Chromium is not installed. On Debian/Ubuntu: sudo apt-get install -y chromium (then rerun npm run test:e2e).";

export function findChromium() {
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim().split("\n")[0] || null;
  } catch {
    return null;
  }
}

/** In CI a missing browser is a failure, never a skip; locally it says how to get one. */
export const browserRequired = () => Boolean(process.env.CI || process.env.E2E_REQUIRE_BROWSER);

/**
 * @param {object} t  the e2e run's helpers: check, assert, request, api, base, root, run, password, ownerToken()
 */
export async function browserFlows(t) {
  const executablePath = findChromium();
  if (!executablePath) {
    if (browserRequired()) {
      await t.check("browser: chromium is installed", () => {
        throw new Error(INSTALL_HINT);
      });
    } else {
      console.log(`  - browser flows skipped locally. ${INSTALL_HINT}`);
    }
    return;
  }
  const { chromium } = await import("playwright-core");
  const screenshots = join(t.root, "test-results");
  mkdirSync(screenshots, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), "edge-invites-chromium-"));
  // A persistent context is the only way to hand Chromium a fresh --user-data-dir of our own.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: LAUNCH_FLAGS,
    javaScriptEnabled: false,
    locale: "en-US",
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
  });
  // Error statuses the flows expect are checked where they happen; the favicon is simply not served.
  page.on("response", (response) => {
    if (response.status() >= 500 && !response.url().endsWith("/favicon.ico")) problems.push(`${response.status()} ${response.url()}`);
  });
  const shot = (name) => page.screenshot({ path: join(screenshots, `e2e-${name}.png`), fullPage: true });

  async function caughtMailTo(email, wanted = () => true) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await t.request("GET", `${t.base}/__dev/mail`);
      t.assert(response.status === 200, `GET /__dev/mail: ${response.status} ${response.text.slice(0, 200)} (is MAIL_CATCHER=1 in .dev.vars?)`);
      const mail = response.json.items.find((item) => item.to === email && wanted(item));
      if (mail) return mail;
      if (Date.now() > deadline) throw new Error(`no mail to ${email} reached the catcher within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  try {
    await t.check("browser: invite by email → the caught mail → hosted page → create account → invite Used", async () => {
      const email = `browser-${t.run}@e2e.test`;
      const created = await t.request("POST", "/invites", { token: t.ownerToken(), body: { email, role: "Developer" } });
      t.assert(created.status === 201 && created.json.delivery?.status === "Queued", `create: ${created.status} ${created.text}`);
      const mail = await caughtMailTo(email);
      t.assert(mail.link === `${t.base}/invite/${created.json.token}`, `link in the mail: ${mail.link}`);
      t.assert(mail.text.includes(mail.link) && mail.html.includes(mail.link), "the link is in both bodies");

      const landing = await page.goto(mail.link);
      t.assert(landing.status() === 200, `GET ${mail.link}: ${landing.status()}`);
      t.assert(landing.headers()["content-security-policy"]?.includes("default-src 'none'"), "CSP on the hosted page");
      await shot("invite-page");
      t.assert((await page.locator("h1").innerText()).startsWith("Join "), `heading: ${await page.locator("h1").innerText()}`);
      // By label, as a person (or a screen reader) finds the fields.
      const form = page.locator("section", { has: page.getByRole("heading", { name: "Create an account" }) });
      await form.getByLabel("Email").fill(email);
      await form.getByLabel("Password").fill(t.password);
      await Promise.all([page.waitForLoadState("load"), form.getByRole("button", { name: "Create account and join" }).click()]);
      await page.waitForURL(mail.link);
      await shot("invite-joined");
      const heading = await page.locator("h1").innerText();
      t.assert(heading.startsWith("Welcome to "), `after submit: ${heading} — ${(await page.locator("main").innerText()).slice(0, 300)}`);

      const invite = await t.request("GET", `/invites/${created.json.id}`, { token: t.ownerToken() });
      t.assert(invite.json.status === "Used" && invite.json.delivery.status === "Sent", `invite after: ${invite.text}`);
      const login = await t.request("POST", "/auth/login", { body: { email, password: t.password } });
      t.assert(login.status === 200, `the new account logs in: ${login.status}`);
    });

    await t.check("browser: a refused form post shows the error next to the field (JavaScript off)", async () => {
      const created = await t.request("POST", "/invites", { token: t.ownerToken(), body: { role: "Viewer" } });
      await page.goto(`${t.base}/invite/${created.json.token}`);
      const form = page.locator("section", { has: page.getByRole("heading", { name: "Create an account" }) });
      await form.getByLabel("Email").fill("not-an-email");
      await form.getByLabel("Password").fill("short");
      await Promise.all([page.waitForLoadState("load"), form.getByRole("button", { name: "Create account and join" }).click()]);
      await shot("invite-errors");
      const alert = await page.getByRole("alert").innerText();
      t.assert(alert.includes("Enter a valid email address."), `alert: ${alert}`);
      t.assert((await form.getByLabel("Email").getAttribute("aria-invalid")) === "true", "the email field is marked invalid");
    });

    await t.check("browser: existing account → confirms its email from the caught mail (GET shows a button, the click verifies) → accepts an email-bound invite by signing in", async () => {
      const email = `existing-${t.run}@e2e.test`;
      const signup = await t.request("POST", "/tenants", { body: { name: `Other ${t.run}`, adminEmail: email, adminPassword: t.password } });
      t.assert(signup.status === 201, `sign-up: ${signup.status} ${signup.text}`);
      const verification = await caughtMailTo(email, (mail) => mail.link?.includes("/verify-email/"));
      await page.goto(verification.link);
      await shot("verify-page");
      const verifiedBefore = await t.request("POST", "/auth/login", { body: { email, password: t.password } });
      const me = await t.request("GET", "/users/me", { token: verifiedBefore.json.accessToken });
      t.assert(me.json.emailVerified === false, `GET alone must not verify: ${me.text}`);
      await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Confirm my email" }).click()]);
      t.assert((await page.locator("h1").innerText()) === "Email confirmed", `after confirming: ${await page.locator("main").innerText()}`);
      const after = await t.request("GET", "/users/me", { token: verifiedBefore.json.accessToken });
      t.assert(after.json.emailVerified === true, `verified: ${after.text}`);

      const created = await t.request("POST", "/invites", { token: t.ownerToken(), body: { email, role: "Viewer" } });
      t.assert(created.status === 201, `create: ${created.status} ${created.text}`);
      const invitation = await caughtMailTo(email, (mail) => mail.link === `${t.base}/invite/${created.json.token}`);
      await page.goto(invitation.link);
      const form = page.locator("section", { has: page.getByRole("heading", { name: "I already have an account" }) });
      await form.getByLabel("Email").fill(email);
      await form.getByLabel("Password").fill(t.password);
      await Promise.all([page.waitForLoadState("load"), form.getByRole("button", { name: "Sign in and accept" }).click()]);
      await shot("invite-accepted");
      const heading = await page.locator("h1").innerText();
      t.assert(heading.startsWith("Welcome to "), `after accept: ${heading} — ${(await page.locator("main").innerText()).slice(0, 300)}`);
      const invite = await t.request("GET", `/invites/${created.json.id}`, { token: t.ownerToken() });
      t.assert(invite.json.status === "Used", `invite after: ${invite.text}`);
      const login = await t.request("POST", "/auth/login", { body: { email, password: t.password } });
      t.assert(login.json.tenants?.length === 2, `two tenants now: ${login.text}`);
    });

    await t.check("browser: no console errors (CSP violations included) on the way", async () => {
      t.assert(problems.length === 0, problems.join("\n"));
    });
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}
