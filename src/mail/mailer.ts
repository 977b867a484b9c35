/** The port every mail goes through: Cloudflare Email Service in production, anything else behind it. */
export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

export type SendResult =
  | { ok: true; messageId: string }
  | {
      ok: false;
      /** the provider's code, e.g. E_RATE_LIMIT_EXCEEDED, or E_UNKNOWN when it gave none */
      code: string;
      /** a sentence an admin can act on, shown as the invite's `delivery.error` */
      message: string;
      /** worth trying again later (rate and daily limits, outages) rather than giving up */
      retryable: boolean;
      /** the provider's hint for when to try again, when it has one */
      retryAfterSeconds?: number;
    };

export type SendFailure = Extract<SendResult, { ok: false }>;

export interface Mailer {
  send(message: MailMessage): Promise<SendResult>;
}
