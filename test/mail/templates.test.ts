import { describe, expect, it } from "vitest";
import { loadConfig, type Env } from "../../src/env";
import { negotiateLocale } from "../../src/lib/locale";
import { inviteLink } from "../../src/mail/links";
import { renderInviteMail, renderPasswordResetMail, renderVerificationMail } from "../../src/mail/templates";

const EXPIRES = Date.UTC(2026, 6, 10, 14, 32);
const LINK = "https://invites.example/invite/inv_abc?x=1&y=2";

describe("invite mail templates", () => {
  it("en: subject and both bodies name the tenant, the role, the inviter, the expiry and carry the link", () => {
    const mail = renderInviteMail({ locale: "en", tenantName: "Initech", role: "Developer", inviterEmail: "boss@initech.test", expiresAt: EXPIRES, link: LINK });
    expect(mail.subject).toBe("boss@initech.test invited you to join Initech");
    for (const body of [mail.text, mail.html]) {
      expect(body).toContain("Initech");
      expect(body).toContain("Developer");
      expect(body).toContain("boss@initech.test");
      expect(body).toContain("10 July 2026 at 14:32 UTC");
    }
    expect(mail.text).toContain(LINK);
    // In HTML the link's & is an entity, as an attribute value must be.
    expect(mail.html).toContain(`href="https://invites.example/invite/inv_abc?x=1&amp;y=2"`);
    expect(mail.html).toMatch(/^<!doctype html><html lang="en">/);
    expect(mail.link).toBe(LINK);
  });

  it("pt-BR: the same facts in Portuguese, the role translated", () => {
    const mail = renderInviteMail({ locale: "pt-BR", tenantName: "Initech", role: "Viewer", inviterEmail: "chefe@initech.test", expiresAt: EXPIRES, link: LINK });
    expect(mail.subject).toBe("chefe@initech.test convidou você para participar de Initech");
    expect(mail.text).toContain("como Leitor");
    expect(mail.text).toContain("10 de julho de 2026 às 14:32 UTC");
    expect(mail.html).toContain('lang="pt-BR"');
    expect(mail.html).toContain("Aceitar o convite");
  });

  it("escapes every value in the HTML body and shows it as typed in the text body", () => {
    const tenantName = `<script>alert("x")</script> & Co'`;
    const inviterEmail = `"><img src=x onerror=alert(1)>@evil.test`;
    const mail = renderInviteMail({ locale: "en", tenantName, role: "Admin", inviterEmail, expiresAt: EXPIRES, link: `https://x.test/invite/"><script>` });
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).not.toContain("<img");
    expect(mail.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co&#39;");
    expect(mail.text).toContain(tenantName);
    expect(mail.text).toContain(inviterEmail);
    expect(mail.subject).toContain(tenantName);
  });

  it("verification and password-reset mails, per locale, with their link and expiry", () => {
    for (const render of [renderVerificationMail, renderPasswordResetMail]) {
      const en = render({ locale: "en", email: "a<b>@x.test", expiresAt: EXPIRES, link: LINK });
      const pt = render({ locale: "pt-BR", email: "a@x.test", expiresAt: EXPIRES, link: LINK });
      expect(en.text).toContain(LINK);
      expect(en.html).not.toContain("a<b>");
      expect(en.text).toContain("a<b>@x.test");
      expect(pt.subject).not.toBe(en.subject);
      expect(pt.html).toContain('lang="pt-BR"');
    }
  });
});

describe("links", () => {
  const config = (vars: Partial<Env>) => loadConfig({ ...vars } as Env).mail;

  it("default INVITE_LINK_TEMPLATE is {PUBLIC_URL}/invite/{token}, with a trailing slash of PUBLIC_URL ignored", () => {
    expect(inviteLink(config({ PUBLIC_URL: "https://invites.example/" }), "inv_x")).toBe("https://invites.example/invite/inv_x");
    expect(inviteLink(config({ PUBLIC_URL: "https://example.com/edge" }), "inv_x")).toBe("https://example.com/edge/invite/inv_x");
  });

  it("an SPA's own template", () => {
    expect(inviteLink(config({ INVITE_LINK_TEMPLATE: "https://app.example.com/join/{token}?src=mail" }), "inv_y")).toBe("https://app.example.com/join/inv_y?src=mail");
  });

  it("refuses a template without {token} and a PUBLIC_URL that is not an http(s) URL (clear config errors)", () => {
    expect(() => config({ INVITE_LINK_TEMPLATE: "https://app.example.com/join" })).toThrow(/INVITE_LINK_TEMPLATE must contain \{token\}/);
    expect(() => config({ PUBLIC_URL: "ftp://x" })).toThrow(/PUBLIC_URL/);
    expect(config({ PUBLIC_URL: "http://127.0.0.1:8787" }).publicOrigin).toBe("http://127.0.0.1:8787");
  });
});

describe("Accept-Language", () => {
  it.each([
    [null, "en"],
    ["pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"],
    ["pt", "pt-BR"],
    ["pt-PT", "pt-BR"],
    ["en-US,pt-BR;q=0.5", "en"],
    ["de-DE,pt;q=0.4", "pt-BR"],
    ["fr, de", "en"],
    ["pt;q=0, en", "en"],
  ])("%s → %s", (header, locale) => {
    expect(negotiateLocale(header)).toBe(locale);
  });
});
