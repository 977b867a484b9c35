import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, call, createInvite, newTenant, PASSWORD, register, uniqueEmail } from "../helpers";

const ORIGIN = new URL(BASE).origin;
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";

function postForm(token: string, fields: Record<string, string>, headers: Record<string, string> = { Origin: ORIGIN }, ip?: string) {
  return call("POST", `/invite/${token}`, {
    rawBody: new URLSearchParams(fields),
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    ...(ip ? { ip } : {}),
  });
}

const inviteState = async (owner: { token: string }, id: string) => (await call("GET", `/api/v1/invites/${id}`, { token: owner.token })).body;
const userCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM accounts").first<{ n: number }>())?.n ?? 0;

describe("GET /invite/{token} (hosted page)", () => {
  it("shows the preview and a labelled form; strict CSP, no script, no cache; changes nothing", async () => {
    const owner = await newTenant("page");
    const invite = await createInvite(owner.token, { role: "Developer", email: uniqueEmail("bob") });
    const before = await inviteState(owner, invite.id);
    const page = await call("GET", `/invite/${invite.token}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(page.headers.get("Content-Security-Policy")).toBe(CSP);
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    expect(page.headers.get("X-Frame-Options")).toBe("DENY");
    // same-origin, not no-referrer: under no-referrer browsers post forms with `Origin: null`.
    expect(page.headers.get("Referrer-Policy")).toBe("same-origin");
    expect(page.text).not.toMatch(/<script|\sstyle=|\son\w+=/i);
    expect(page.text).toContain(`Join ${owner.tenantName}`);
    expect(page.text).toContain("as Developer");
    expect(page.text).toMatch(/This invitation is for b\*\*\*@example\.test/);
    expect(page.text).toContain(`<form method="post" action="/invite/${invite.token}"`);
    for (const id of ["register-email", "register-password"]) expect(page.text).toContain(`<label for="${id}">`);
    expect(page.text).toContain('<link rel="stylesheet" href="/assets/pages.css"/>');
    expect(await inviteState(owner, invite.id)).toEqual(before);
  });

  it("speaks pt-BR when Accept-Language asks for it", async () => {
    const owner = await newTenant("pagina");
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const page = await call("GET", `/invite/${invite.token}`, { headers: { "Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5" } });
    expect(page.text).toContain('<html lang="pt-BR">');
    expect(page.text).toContain("como Leitor");
    expect(page.text).toContain("Criar conta e participar");
  });

  it("escapes the tenant name", async () => {
    const owner = await newTenant(`<img src=x onerror=alert(1)>`);
    const invite = await createInvite(owner.token);
    const page = await call("GET", `/invite/${invite.token}`);
    expect(page.text).not.toContain("<img");
    expect(page.text).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("404 page for a token that matches nothing; a used invite shows why and no form", async () => {
    const missing = await call("GET", `/invite/inv_${"a".repeat(43)}`);
    expect(missing.status).toBe(404);
    expect(missing.text).toContain("Link not found");
    const owner = await newTenant("page-used");
    const invite = await createInvite(owner.token);
    expect((await register(invite.token)).status).toBe(201);
    const used = await call("GET", `/invite/${invite.token}`);
    expect(used.status).toBe(200);
    expect(used.text).toContain("This invitation has already been used.");
    expect(used.text).not.toContain("<form");
  });

  it("serves its stylesheet as CSS", async () => {
    const css = await call("GET", "/assets/pages.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("Content-Type")).toMatch(/^text\/css/);
    expect(css.text).toContain("label{");
  });
});

describe("POST /invite/{token} (the create-account form)", () => {
  it("creates the account with the invite's role, marks the invite Used and links to APP_URL", async () => {
    const owner = await newTenant("page-post");
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const email = uniqueEmail("formuser");
    const response = await postForm(invite.token, { intent: "register", email: email.toUpperCase(), password: PASSWORD });
    expect(response.status, response.text).toBe(200);
    expect(response.text).toContain(`Welcome to ${owner.tenantName}`);
    expect(response.text).toContain(`${email} is now a member, as Viewer.`);
    expect(response.text).toContain('href="https://app.edge-invites.example/"');
    expect((await inviteState(owner, invite.id)).status).toBe("Used");
    expect((await call("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
  });

  it("403 and nothing written without our Origin (missing, foreign, or null)", async () => {
    const owner = await newTenant("page-origin");
    const invite = await createInvite(owner.token);
    const users = await userCount();
    for (const headers of <Record<string, string>[]>[{}, { Origin: "https://evil.example" }, { Origin: "null" }, { Origin: `${ORIGIN}.evil.example` }]) {
      const response = await postForm(invite.token, { intent: "register", email: uniqueEmail("csrf"), password: PASSWORD }, headers);
      expect(response.status).toBe(403);
      expect(response.text).toContain("Request refused");
    }
    expect(await userCount()).toBe(users);
    expect((await inviteState(owner, invite.id)).status).toBe("Pending");
  });

  it("400 with the form again, errors per field (aria-invalid, described), the typed email kept, never the password", async () => {
    const owner = await newTenant("page-400");
    const invite = await createInvite(owner.token);
    const response = await postForm(invite.token, { intent: "register", email: "not-an-email", password: "short" });
    expect(response.status).toBe(400);
    expect(response.text).toContain('role="alert"');
    expect(response.text).toContain('<span class="field-error" id="register-email-error">Enter a valid email address.</span>');
    expect(response.text).toContain('aria-invalid="true" aria-describedby="register-email-error"');
    expect(response.text).toContain('value="not-an-email"');
    expect(response.text).not.toContain("short");
    expect((await inviteState(owner, invite.id)).status).toBe("Pending");
  });

  it("409 with the API's rule as a readable message: email taken, email mismatch, invite used", async () => {
    const owner = await newTenant("page-409");
    const bound = await createInvite(owner.token, { email: uniqueEmail("bound") });
    const mismatch = await postForm(bound.token, { intent: "register", email: uniqueEmail("other"), password: PASSWORD });
    expect(mismatch.status).toBe(409);
    expect(mismatch.text).toContain("This invitation was sent to a different email address.");

    const open = await createInvite(owner.token);
    const taken = await postForm(open.token, { intent: "register", email: owner.email, password: PASSWORD });
    expect(taken.status).toBe(409);
    expect(taken.text).toContain("An account with this email already exists.");

    expect((await register(open.token)).status).toBe(201);
    const used = await postForm(open.token, { intent: "register", email: uniqueEmail("late"), password: PASSWORD });
    expect(used.status).toBe(409);
    expect(used.text).toContain("This invitation has already been used.");
  });

  it("404 page for an unknown token", async () => {
    const response = await postForm(`inv_${"b".repeat(43)}`, { intent: "register", email: uniqueEmail("x"), password: PASSWORD });
    expect(response.status).toBe(404);
  });

  it("429 with Retry-After under the API's per-IP register limit, which both count", async () => {
    const owner = await newTenant("page-429");
    const invite = await createInvite(owner.token);
    const ip = `10.99.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const limit = Number(env.REGISTER_LIMIT_PER_HOUR ?? 10);
    for (let i = 0; i < limit - 1; i++) expect((await postForm(invite.token, { intent: "register", email: "bad", password: "x" }, { Origin: ORIGIN }, ip)).status).toBe(400);
    expect((await call("POST", `/api/v1/invites/${invite.token}/register`, { ip, body: { email: "bad", password: "x" } })).status).toBe(400);
    const refused = await postForm(invite.token, { intent: "register", email: uniqueEmail("x"), password: PASSWORD }, { Origin: ORIGIN }, ip);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.text).toContain("Too many attempts.");
    expect((await inviteState(owner, invite.id)).status).toBe("Pending");
  });
});

describe("hosted page and links (§2.9)", () => {
  it("a link's page shows its domains and publicMetadata (escaped, never privateMetadata); success links to its redirectUrl", async () => {
    const owner = await newTenant("page-link");
    expect((await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { redirectOrigins: ["https://app.initech.test"] } })).status).toBe(200);
    const link = await createInvite(owner.token, {
      maxUses: 3,
      allowedDomains: ["example.test"],
      redirectUrl: "https://app.initech.test/welcome?team=design&x=<b>",
      publicMetadata: { team: "<script>alert(1)</script>", seats: 3 },
      privateMetadata: { costCenter: "CC-SECRET-42" },
    });
    const page = await call("GET", `/invite/${link.token}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("This invitation is for email addresses at example.test.");
    expect(page.text).toContain("<dt>team</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>");
    expect(page.text).toContain("<dt>seats</dt><dd>3</dd>");
    expect(page.text).not.toMatch(/<script/i);
    expect(page.text).not.toContain("CC-SECRET-42");

    const email = uniqueEmail("linkuser");
    const joined = await postForm(link.token, { intent: "register", email, password: PASSWORD });
    expect(joined.status, joined.text).toBe(200);
    expect(joined.text).toContain('href="https://app.initech.test/welcome?team=design&amp;x=&lt;b&gt;"');
    // one use of three taken: the page still offers the forms
    expect((await call("GET", `/invite/${link.token}`)).text).toContain(`<form method="post" action="/invite/${link.token}"`);
    // another domain: the API's 409, as a sentence next to the form
    const refused = await postForm(link.token, { intent: "register", email: `someone-${crypto.randomUUID()}@elsewhere.test`, password: PASSWORD });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain("example.test");
  });
});
