import type { InvitePreview } from "../features/invites/lifecycle";
import { formatDateTime, roleLabel, type Locale } from "../lib/locale";
import { PAGE_COPY } from "./i18n";
import { ErrorSummary, Field, Page, type FormErrors } from "./layout";
import { markup, type Markup } from "../lib/markup";

export interface InvitePageProps {
  locale: Locale;
  token: string;
  preview: InvitePreview;
  errors?: FormErrors | undefined;
  /** what the person typed, kept across a refused post (never the password) */
  email?: string | undefined;
  /** offer "I already have an account" (sign in + accept) */
  acceptEnabled: boolean;
}

/** One of the page's two forms: "create an account" (register) or "I already have an account" (accept). */
function CredentialsForm(props: InvitePageProps & { intent: "register" | "accept"; heading: string; submit: string }): Markup {
  const copy = PAGE_COPY[props.locale];
  const form = props.intent;
  const register = form === "register";
  return markup`
    <section aria-labelledby="${form}-heading">
      <h2 id="${form}-heading">${props.heading}</h2>
      ${ErrorSummary({ title: copy.errorSummary, errors: props.errors, form })}
      <form method="post" action="/invite/${encodeURIComponent(props.token)}" novalidate="">
        <input type="hidden" name="intent" value="${form}"/>
        ${Field({
          form,
          name: "email",
          label: copy.email,
          type: "email",
          autocomplete: register ? "email" : "username",
          value: props.errors?.form === form ? props.email : undefined,
          errors: props.errors,
        })}
        ${Field({
          form,
          name: "password",
          label: copy.password,
          type: "password",
          autocomplete: register ? "new-password" : "current-password",
          ...(register ? { hint: copy.passwordHint } : {}),
          errors: props.errors,
        })}
        <button type="submit">${props.submit}</button>
      </form>
    </section>`;
}

/**
 * The invite's publicMetadata (§2.9: shown in the preview), its top-level entries as a list: keys and
 * values are the tenant's data, rendered as text (markup escapes them); nested values as JSON text.
 */
function PublicMetadata(metadata: Record<string, unknown> | null): Markup | null {
  const entries = Object.entries(metadata ?? {});
  if (entries.length === 0) return null;
  return markup`<dl class="metadata">${entries.map(([key, value]) => markup`<dt>${key}</dt><dd>${typeof value === "string" ? value : JSON.stringify(value)}</dd>`)}</dl>`;
}

/** GET /invite/{token}: the preview and, while it is pending, the forms. Rendering only: no side effect. */
export function InvitePage(props: InvitePageProps): Markup {
  const copy = PAGE_COPY[props.locale];
  const { preview } = props;
  const role = roleLabel(props.locale, preview.targetRole);
  const pending = markup`
    <p>${copy.inviteExpires(formatDateTime(props.locale, Date.parse(preview.expiresAt)))}</p>
    ${CredentialsForm({ ...props, intent: "register", heading: copy.createAccount, submit: copy.createAccountSubmit })}
    ${props.acceptEnabled ? CredentialsForm({ ...props, intent: "accept", heading: copy.haveAccount, submit: copy.haveAccountSubmit }) : null}`;
  return Page({
    locale: props.locale,
    title: copy.inviteTitle(preview.tenantName),
    children: markup`
      <p>${copy.inviteIntro(role)}</p>
      ${preview.email ? markup`<p>${copy.inviteFor(preview.email)}</p>` : null}
      ${preview.allowedDomains ? markup`<p>${copy.inviteForDomains(preview.allowedDomains.join(", "))}</p>` : null}
      ${PublicMetadata(preview.publicMetadata)}
      ${preview.status === "Pending" ? pending : markup`<p class="notice" role="status">${copy.inviteStatus[preview.status]}</p>`}`,
  });
}
