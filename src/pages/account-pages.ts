import type { Locale } from "../lib/locale";
import { PAGE_COPY } from "./i18n";
import { ErrorSummary, Field, Page, type FormErrors } from "./layout";
import { markup, type Markup } from "../lib/markup";

/**
 * GET /verify-email/{token}: only a button. Mail scanners open links; they do not submit forms, so the
 * token is spent by the POST alone.
 */
export function VerifyEmailPage(props: { locale: Locale; token: string; errors?: FormErrors | undefined }): Markup {
  const copy = PAGE_COPY[props.locale];
  return Page({
    locale: props.locale,
    title: copy.verifyTitle,
    children: markup`
      ${ErrorSummary({ title: copy.errorSummary, errors: props.errors, form: "verify" })}
      <p>${copy.verifyBody}</p>
      <form method="post" action="/verify-email/${encodeURIComponent(props.token)}">
        <button type="submit">${copy.verifySubmit}</button>
      </form>`,
  });
}

export function ResetPasswordPage(props: { locale: Locale; token: string; errors?: FormErrors | undefined }): Markup {
  const copy = PAGE_COPY[props.locale];
  return Page({
    locale: props.locale,
    title: copy.resetTitle,
    children: markup`
      ${ErrorSummary({ title: copy.errorSummary, errors: props.errors, form: "reset" })}
      <form method="post" action="/reset-password/${encodeURIComponent(props.token)}" novalidate="">
        ${Field({ form: "reset", name: "password", label: copy.newPassword, type: "password", autocomplete: "new-password", hint: copy.passwordHint, errors: props.errors })}
        <button type="submit">${copy.resetSubmit}</button>
      </form>`,
  });
}
