export const EMAIL_MAX_LENGTH = 255;

/** Emails are compared case-insensitively and stored normalized: trimmed and lower-cased. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();
