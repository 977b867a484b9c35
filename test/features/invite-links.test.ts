import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newTenant, uniqueEmail, type Session } from "../helpers";

const post = (owner: Session, body: Record<string, unknown>) => call("POST", "/api/v1/invites", { token: owner.token, body });

async function withOrigins(origins: string[]) {
  const owner = await newTenant();
  const patched = await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { redirectOrigins: origins } });
  expect(patched.status, patched.text).toBe(200);
  return owner;
}

describe("invite link options on create", () => {
  it("defaults: single use, no domains, no redirect, no metadata — the new fields follow the seed's", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    const keys = Object.keys(invite);
    expect(keys.slice(-8)).toEqual(["uses", "maxUses", "allowedDomains", "redirectUrl", "publicMetadata", "privateMetadata", "locale", "delivery"]);
    expect(invite).toMatchObject({ uses: 0, maxUses: 1, allowedDomains: null, redirectUrl: null, publicMetadata: null, privateMetadata: null });
  });

  it("maxUses 1–1000, allowedDomains lower-cased and de-duplicated, combinable", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { maxUses: 50, allowedDomains: ["ACME.com", " acme.com ", "eu.acme.co.uk", "xn--bcher-kva.example"] });
    expect(invite).toMatchObject({ uses: 0, maxUses: 50, allowedDomains: ["acme.com", "eu.acme.co.uk", "xn--bcher-kva.example"], status: "Pending" });
    expect(((await createInvite(owner.token, { maxUses: 1000 })) as any).maxUses).toBe(1000);
    // a bound invite may say maxUses 1 explicitly
    expect(((await createInvite(owner.token, { email: uniqueEmail(), maxUses: 1 })) as any).maxUses).toBe(1);
    const listed = await call("GET", `/api/v1/invites/${invite.id}`, { token: owner.token });
    expect(listed.body).toMatchObject({ maxUses: 50, uses: 0, allowedDomains: ["acme.com", "eu.acme.co.uk", "xn--bcher-kva.example"] });
  });

  it.each([
    [{ maxUses: 0 }, "maxUses"],
    [{ maxUses: 1001 }, "maxUses"],
    [{ maxUses: 2.5 }, "maxUses"],
    [{ maxUses: "3" }, "maxUses"],
    [{ maxUses: 2, email: "bound@example.test" }, "maxUses"],
    [{ allowedDomains: ["acme.com"], email: "bound@example.test" }, "allowedDomains"],
    [{ allowedDomains: "acme.com" }, "allowedDomains"],
    [{ allowedDomains: [] }, "allowedDomains"],
    [{ allowedDomains: Array.from({ length: 11 }, (_, i) => `d${i}.example`) }, "allowedDomains"],
    [{ allowedDomains: ["*.acme.com"] }, "allowedDomains.0"],
    [{ allowedDomains: ["acme"] }, "allowedDomains.0"],
    [{ allowedDomains: ["dev@acme.com"] }, "allowedDomains.0"],
    [{ allowedDomains: ["https://acme.com"] }, "allowedDomains.0"],
    [{ allowedDomains: ["-acme.com"] }, "allowedDomains.0"],
    [{ allowedDomains: ["acme..com"] }, "allowedDomains.0"],
    [{ allowedDomains: ["acme.com", 7] }, "allowedDomains.1"],
    [{ redirectUrl: "javascript:alert(1)" }, "redirectUrl"],
    [{ redirectUrl: "ftp://app.example.com/x" }, "redirectUrl"],
    [{ redirectUrl: "/relative/path" }, "redirectUrl"],
    [{ publicMetadata: ["a"] }, "publicMetadata"],
    [{ publicMetadata: "text" }, "publicMetadata"],
    [{ privateMetadata: null }, "privateMetadata"],
    [{ publicMetadata: { blob: "x".repeat(4100) } }, "publicMetadata"],
    [{ privateMetadata: { blob: "é".repeat(2100) } }, "privateMetadata"],
  ])("400 VALIDATION_ERROR for %j", async (body, field) => {
    const owner = await newTenant();
    const error = expectError(await post(owner, body), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual([field]);
  });

  it("metadata up to 4 KiB each, stored as given; the admin views show both", async () => {
    const owner = await newTenant();
    const publicMetadata = { team: "platform", nested: { list: [1, 2, 3] }, pad: "p".repeat(3900) };
    const privateMetadata = { costCenter: "CC-42", note: "<script>alert(1)</script>" };
    const invite = await createInvite(owner.token, { publicMetadata, privateMetadata });
    expect(invite).toMatchObject({ publicMetadata, privateMetadata });
    const page = await call("GET", "/api/v1/invites?Qt=1", { token: owner.token });
    expect(page.body.items[0]).toMatchObject({ id: invite.id, publicMetadata, privateMetadata });
  });

  it("redirectUrl must match one of the tenant's redirectOrigins: 400 REDIRECT_NOT_ALLOWED otherwise", async () => {
    const none = await newTenant();
    const refused = expectError(await post(none, { redirectUrl: "https://app.initech.test/welcome" }), 400, "REDIRECT_NOT_ALLOWED");
    expect(Object.keys(refused.details.fields)).toEqual(["redirectUrl"]);

    const owner = await withOrigins(["https://app.initech.test", "http://localhost:5173"]);
    const invite = await createInvite(owner.token, { redirectUrl: "https://APP.initech.test:443/welcome?from=invite#top" });
    expect(invite).toMatchObject({ redirectUrl: "https://APP.initech.test:443/welcome?from=invite#top" });
    expect((await createInvite(owner.token, { redirectUrl: "http://localhost:5173/join" })).status).toBe("Pending");
    for (const url of [
      "https://evil.test/welcome",
      "http://app.initech.test/welcome",
      "https://app.initech.test:8443/welcome",
      "https://app.initech.test.evil.test/",
      "https://evil.test/https://app.initech.test",
      "http://localhost:3000/",
    ]) {
      expectError(await post(owner, { redirectUrl: url }), 400, "REDIRECT_NOT_ALLOWED");
    }
  });

  it("the public preview shows publicMetadata, redirectUrl and allowedDomains — never privateMetadata", async () => {
    const owner = await withOrigins(["https://app.initech.test"]);
    const invite = await createInvite(owner.token, {
      maxUses: 5,
      allowedDomains: ["initech.test"],
      redirectUrl: "https://app.initech.test/welcome",
      publicMetadata: { team: "platform" },
      privateMetadata: { secret: "do-not-show" },
    });
    const preview = await call("GET", `/api/v1/invites/${invite.token}`);
    expect(preview.status, preview.text).toBe(200);
    expect(preview.body).toEqual({
      tenantName: owner.tenantName,
      targetRole: "Developer",
      expiresAt: invite.expiresAt,
      status: "Pending",
      email: null,
      allowedDomains: ["initech.test"],
      redirectUrl: "https://app.initech.test/welcome",
      publicMetadata: { team: "platform" },
    });
    expect(preview.text).not.toContain("do-not-show");
  });
});
