import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { classifySendError, EmailServiceMailer, secondsUntilUtcMidnight } from "../../src/mail/email-service";
import { failingBinding } from "../mail-helpers";

const message = { to: "someone@example.test", from: "invites@edge-invites.example", subject: "Hello", text: "Hi", html: "<p>Hi</p>" };

describe("the Email Service adapter (Mailer over the send_email binding)", () => {
  it("sends through the EMAIL binding (miniflare's simulation) and returns the message id", async () => {
    const result = await new EmailServiceMailer(env.EMAIL).send(message);
    expect(result).toEqual({ ok: true, messageId: expect.any(String) });
  });

  it.each([
    ["E_RATE_LIMIT_EXCEEDED", true],
    ["E_DAILY_LIMIT_EXCEEDED", true],
    ["E_INTERNAL_SERVER_ERROR", true],
    ["E_DELIVERY_FAILED", true],
    ["E_SOMETHING_NEW", true],
    ["E_RECIPIENT_SUPPRESSED", false],
    ["E_SENDER_NOT_VERIFIED", false],
    ["E_SENDER_DOMAIN_NOT_AVAILABLE", false],
    ["E_RECIPIENT_NOT_ALLOWED", false],
    ["E_VALIDATION_ERROR", false],
    ["E_FIELD_MISSING", false],
    ["E_CONTENT_TOO_LARGE", false],
    ["E_HEADER_NOT_ALLOWED", false],
  ])("a thrown %s is a typed failure (retryable: %s) with a readable message", async (code, retryable) => {
    const { binding } = failingBinding(code, "details from the provider");
    const result = await new EmailServiceMailer(binding).send(message);
    expect(result).toMatchObject({ ok: false, code, retryable });
    if (!result.ok) {
      expect(result.message).toContain(code);
      expect(result.message).toContain("details from the provider");
    }
  });

  it("an error without a code (a dropped connection) is E_UNKNOWN and retryable", () => {
    expect(classifySendError(new TypeError("network connection lost"))).toMatchObject({ ok: false, code: "E_UNKNOWN", retryable: true });
  });

  it("hints when to retry: a minute for the rate limit, the next UTC midnight for the daily quota", () => {
    const now = Date.UTC(2026, 6, 10, 23, 0, 0);
    expect(classifySendError(Object.assign(new Error("x"), { code: "E_RATE_LIMIT_EXCEEDED" }), now).retryAfterSeconds).toBe(60);
    expect(classifySendError(Object.assign(new Error("x"), { code: "E_DAILY_LIMIT_EXCEEDED" }), now).retryAfterSeconds).toBe(3600);
    expect(secondsUntilUtcMidnight(Date.UTC(2026, 6, 10, 0, 0, 0))).toBe(86400);
  });
});
