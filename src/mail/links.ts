import type { MailConfig } from "../env";

/** INVITE_LINK_TEMPLATE with `{PUBLIC_URL}` and `{token}` filled in. */
export function inviteLink(config: MailConfig, token: string): string {
  return config.inviteLinkTemplate.replaceAll("{PUBLIC_URL}", config.publicUrl).replaceAll("{token}", encodeURIComponent(token));
}

export const verifyEmailLink = (config: MailConfig, token: string) => `${config.publicUrl}/verify-email/${encodeURIComponent(token)}`;
export const resetPasswordLink = (config: MailConfig, token: string) => `${config.publicUrl}/reset-password/${encodeURIComponent(token)}`;
