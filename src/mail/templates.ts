import { markup, type Markup } from "../lib/markup";
import { formatDateTime, roleLabel, type Locale } from "../lib/locale";

/** What a rendered mail is made of; `link` is the one action it offers (also kept by the mail catcher). */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
  link: string;
}

export interface InviteMailInput {
  locale: Locale;
  tenantName: string;
  role: string;
  inviterEmail: string;
  expiresAt: number;
  link: string;
}

export interface TokenMailInput {
  locale: Locale;
  email: string;
  expiresAt: number;
  link: string;
}

/**
 * HTML bodies are hono/html templates (`markup`, shared with the hosted pages): every interpolated value is
 * escaped, so a tenant called `<script>` is text. Text bodies show values as typed.
 */
function Layout(props: { locale: Locale; title: string; children: Markup }): Markup {
  return markup`
    <html lang="${props.locale}">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>${props.title}</title>
      </head>
      <body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1a1a1a; max-width: 36rem; margin: 0 auto; padding: 1rem;">
        ${props.children}
      </body>
    </html>`;
}

function Button(props: { href: string; label: string }): Markup {
  return markup`
    <p>
      <a href="${props.href}" style="display: inline-block; background: #1f4fd1; color: #ffffff; padding: 0.6rem 1.2rem; border-radius: 0.3rem; text-decoration: none;">${props.label}</a>
    </p>`;
}

const page = (node: Markup) => `<!doctype html>${String(node)}`;

const INVITE_COPY = {
  en: {
    subject: (i: InviteMailInput) => `${i.inviterEmail} invited you to join ${i.tenantName}`,
    intro: (i: InviteMailInput, role: string) => [`${i.inviterEmail} invited you to join `, i.tenantName, ` as ${role}.`],
    action: "Accept the invitation",
    expires: (when: string) => `This invitation expires on ${when}.`,
    fallback: "If the button does not work, open this link:",
    ignore: "If you did not expect this invitation, you can ignore this email.",
  },
  "pt-BR": {
    subject: (i: InviteMailInput) => `${i.inviterEmail} convidou você para participar de ${i.tenantName}`,
    intro: (i: InviteMailInput, role: string) => [`${i.inviterEmail} convidou você para participar de `, i.tenantName, ` como ${role}.`],
    action: "Aceitar o convite",
    expires: (when: string) => `Este convite expira em ${when}.`,
    fallback: "Se o botão não funcionar, abra este link:",
    ignore: "Se você não esperava este convite, pode ignorar este e-mail.",
  },
} as const;

export function renderInviteMail(input: InviteMailInput): RenderedMail {
  const copy = INVITE_COPY[input.locale];
  const role = roleLabel(input.locale, input.role);
  const when = formatDateTime(input.locale, input.expiresAt);
  const subject = copy.subject(input);
  const [before, tenant, after] = copy.intro(input, role);
  const text = [`${before}${tenant}${after}`, "", `${copy.action}: ${input.link}`, "", copy.expires(when), "", copy.ignore, ""].join("\n");
  const html = page(
    Layout({
      locale: input.locale,
      title: subject,
      children: markup`
        <p>${before}<strong>${tenant}</strong>${after}</p>
        ${Button({ href: input.link, label: copy.action })}
        <p>${copy.expires(when)}</p>
        <p>${copy.fallback}<br/><a href="${input.link}">${input.link}</a></p>
        <p style="color: #555555;">${copy.ignore}</p>`,
    }),
  );
  return { subject, text, html, link: input.link };
}

const VERIFY_COPY = {
  en: {
    subject: "Confirm your email address",
    intro: (email: string) => `Confirm that ${email} is your email address.`,
    action: "Confirm my email",
    expires: (when: string) => `This link expires on ${when}.`,
    ignore: "If you did not create an account, you can ignore this email.",
  },
  "pt-BR": {
    subject: "Confirme seu endereço de e-mail",
    intro: (email: string) => `Confirme que ${email} é o seu endereço de e-mail.`,
    action: "Confirmar meu e-mail",
    expires: (when: string) => `Este link expira em ${when}.`,
    ignore: "Se você não criou uma conta, pode ignorar este e-mail.",
  },
} as const;

const RESET_COPY = {
  en: {
    subject: "Reset your password",
    intro: (email: string) => `Someone asked to reset the password of the account ${email}.`,
    action: "Choose a new password",
    expires: (when: string) => `This link can be used once and expires on ${when}.`,
    ignore: "If you did not ask for this, ignore this email: your password stays as it is.",
  },
  "pt-BR": {
    subject: "Redefina sua senha",
    intro: (email: string) => `Alguém pediu para redefinir a senha da conta ${email}.`,
    action: "Escolher uma nova senha",
    expires: (when: string) => `Este link pode ser usado uma vez e expira em ${when}.`,
    ignore: "Se não foi você, ignore este e-mail: sua senha continua a mesma.",
  },
} as const;

function renderTokenMail(copy: (typeof VERIFY_COPY)[Locale] | (typeof RESET_COPY)[Locale], input: TokenMailInput): RenderedMail {
  const when = formatDateTime(input.locale, input.expiresAt);
  const text = [copy.intro(input.email), "", `${copy.action}: ${input.link}`, "", copy.expires(when), "", copy.ignore, ""].join("\n");
  const html = page(
    Layout({
      locale: input.locale,
      title: copy.subject,
      children: markup`
        <p>${copy.intro(input.email)}</p>
        ${Button({ href: input.link, label: copy.action })}
        <p>${copy.expires(when)}</p>
        <p><a href="${input.link}">${input.link}</a></p>
        <p style="color: #555555;">${copy.ignore}</p>`,
    }),
  );
  return { subject: copy.subject, text, html, link: input.link };
}

export const renderVerificationMail = (input: TokenMailInput) => renderTokenMail(VERIFY_COPY[input.locale], input);
export const renderPasswordResetMail = (input: TokenMailInput) => renderTokenMail(RESET_COPY[input.locale], input);
