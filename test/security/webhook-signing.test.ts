import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, signPayload, WEBHOOK_SECRET_PATTERN, webhookHeaders } from "../../src/security/webhook-signing";

const now = () => Math.floor(Date.now() / 1000);
const BODY = JSON.stringify({ type: "invite.created", timestamp: "2026-07-03T14:32:00.000Z", data: { inviteId: "0193a2b4-0000-7000-8000-000000000000" } });

describe("Standard Webhooks signing", () => {
  it("secrets are whsec_ + base64 of 32 random bytes, all different", () => {
    const secrets = new Set(Array.from({ length: 50 }, generateWebhookSecret));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(WEBHOOK_SECRET_PATTERN);
      expect(atob(secret.slice("whsec_".length)).length).toBe(32);
    }
  });

  it("the standardwebhooks package verifies what we sign, and computes the very same signature", async () => {
    const secret = generateWebhookSecret();
    const timestamp = now();
    const headers = await webhookHeaders([secret], "0193a2b4-0000-7000-8000-00000000abcd", timestamp, BODY);
    expect(headers["webhook-id"]).toBe("0193a2b4-0000-7000-8000-00000000abcd");
    expect(headers["webhook-timestamp"]).toBe(String(timestamp));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    expect(new Webhook(secret).sign(headers["webhook-id"], new Date(timestamp * 1000), BODY)).toBe(headers["webhook-signature"]);
  });

  it("the spec's worked example: HMAC-SHA256 of id.timestamp.body, base64", async () => {
    // Computed independently with Node's crypto: createHmac("sha256", Buffer.from(key, "base64")).update(`${id}.${ts}.${body}`).digest("base64")
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const signature = await signPayload(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
    expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    expect(new Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330 * 1000), '{"test": 2432232314}')).toBe(signature);
  });

  it("rotation: two space-separated signatures; each secret alone verifies", async () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = await webhookHeaders([current, previous], "evt-1", now(), BODY);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(new Webhook(current).verify(BODY, { ...headers })).toBeTruthy();
    expect(new Webhook(previous).verify(BODY, { ...headers })).toBeTruthy();
    expect(() => new Webhook(generateWebhookSecret()).verify(BODY, { ...headers })).toThrow(WebhookVerificationError);
  });

  it("a changed body, id or timestamp fails verification", async () => {
    const secret = generateWebhookSecret();
    const timestamp = now();
    const headers = await webhookHeaders([secret], "evt-2", timestamp, BODY);
    const wh = new Webhook(secret);
    expect(() => wh.verify(BODY.replace("invite", "member"), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => wh.verify(BODY, { ...headers, "webhook-id": "evt-3" })).toThrow(WebhookVerificationError);
    expect(() => wh.verify(BODY, { ...headers, "webhook-timestamp": String(timestamp - 1) })).toThrow(WebhookVerificationError);
  });

  it("refuses ids with a '.' (they would make the signed content ambiguous), fractional timestamps and malformed secrets", async () => {
    const secret = generateWebhookSecret();
    await expect(signPayload(secret, "a.b", now(), BODY)).rejects.toThrow();
    await expect(signPayload(secret, "a", 1.5, BODY)).rejects.toThrow();
    await expect(signPayload("sk_nope", "a", now(), BODY)).rejects.toThrow();
    await expect(signPayload("whsec_c2hvcnQ=", "a", now(), BODY)).rejects.toThrow();
  });
});
