import type { Mailer, MailMessage, SendFailure, SendResult } from "./mailer";

/**
 * Email Service's `send()` throws an Error with a `code` (developers.cloudflare.com/email-service/api/
 * send-emails/workers-api, "Error codes"). Limits and outages pass; everything about the message, the
 * sender or the recipient stays wrong however often it is retried.
 */
const PERMANENT: Record<string, string> = {
  E_VALIDATION_ERROR: "The message was rejected as invalid",
  E_FIELD_MISSING: "The message lacked a required field",
  E_TOO_MANY_RECIPIENTS: "Too many recipients",
  E_SENDER_NOT_VERIFIED: "The sender domain is not verified (check EMAIL_FROM)",
  E_SENDER_DOMAIN_NOT_AVAILABLE: "The sender domain is not onboarded to Email Service (check EMAIL_FROM)",
  E_RECIPIENT_NOT_ALLOWED: "The recipient is not an allowed destination of the binding",
  E_RECIPIENT_SUPPRESSED: "The recipient is on the suppression list (earlier mail bounced or was reported as spam)",
  E_CONTENT_TOO_LARGE: "The message is too large",
};

const RETRYABLE: Record<string, string> = {
  E_RATE_LIMIT_EXCEEDED: "Email Service's sending rate limit was reached",
  E_DAILY_LIMIT_EXCEEDED: "Email Service's daily sending quota was reached",
  E_INTERNAL_SERVER_ERROR: "Email Service was temporarily unavailable",
  E_DELIVERY_FAILED: "The recipient's mail server did not accept the message",
};

/** Header errors (E_HEADER_*, E_HEADERS_*) are about our message too: permanent. */
const isPermanent = (code: string) => code in PERMANENT || /^E_HEADERS?_/.test(code);

/** Seconds until the next UTC midnight, when a daily quota resets. */
export function secondsUntilUtcMidnight(now: number): number {
  const next = new Date(now);
  next.setUTCHours(24, 0, 0, 0);
  return Math.max(1, Math.ceil((next.getTime() - now) / 1000));
}

export function classifySendError(error: unknown, now = Date.now()): SendFailure {
  const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "E_UNKNOWN";
  const detail = error instanceof Error && error.message ? error.message : String(error);
  if (isPermanent(code)) return { ok: false, code, message: `${code}: ${PERMANENT[code] ?? "Email Service refused a header"} — ${detail}`, retryable: false };
  const known = RETRYABLE[code];
  return {
    ok: false,
    code,
    message: `${code}: ${known ?? "Sending failed"} — ${detail}`,
    // An unknown failure (a new code, a dropped connection) gets the benefit of the doubt: the
    // retries are bounded, and a permanent one ends as Failed with this message.
    retryable: true,
    ...(code === "E_RATE_LIMIT_EXCEEDED" ? { retryAfterSeconds: 60 } : {}),
    ...(code === "E_DAILY_LIMIT_EXCEEDED" ? { retryAfterSeconds: secondsUntilUtcMidnight(now) } : {}),
  };
}

/** The adapter over the `[[send_email]] name = "EMAIL"` binding. */
export class EmailServiceMailer implements Mailer {
  constructor(private readonly binding: SendEmail) {}

  async send(message: MailMessage): Promise<SendResult> {
    try {
      const result = await this.binding.send({
        to: message.to,
        from: message.from,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
      return { ok: true, messageId: result.messageId };
    } catch (error) {
      return classifySendError(error);
    }
  }
}
