import { markup, type Markup } from "../lib/markup";
import type { Locale } from "../lib/locale";
import { STYLESHEET_PATH } from "./styles";

export function Page(props: { locale: Locale; title: string; children: Markup }): Markup {
  return markup`
    <html lang="${props.locale}">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="referrer" content="same-origin"/>
        <meta name="robots" content="noindex"/>
        <title>${props.title}</title>
        <link rel="stylesheet" href="${STYLESHEET_PATH}"/>
      </head>
      <body>
        <main>
          <h1>${props.title}</h1>
          ${props.children}
        </main>
      </body>
    </html>`;
}

/** Errors of one form: a summary announced to screen readers, plus a message per field. */
export interface FormErrors {
  /** which form they belong to (a page may hold two) */
  form?: string;
  summary?: string;
  fields?: Record<string, string>;
}

export function ErrorSummary(props: { title: string; errors: FormErrors | undefined; form: string }): Markup | null {
  if (!props.errors || props.errors.form !== props.form || !props.errors.summary) return null;
  return markup`
    <div class="error-summary" role="alert" id="${props.form}-errors">
      <strong>${props.title}</strong>
      <p>${props.errors.summary}</p>
    </div>`;
}

export function Field(props: {
  form: string;
  name: string;
  label: string;
  type: "email" | "password";
  autocomplete: string;
  value?: string | undefined;
  hint?: string;
  errors: FormErrors | undefined;
}): Markup {
  const id = `${props.form}-${props.name}`;
  const error = props.errors?.form === props.form ? props.errors.fields?.[props.name] : undefined;
  const describedBy = [props.hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  const lengths = props.type === "password" ? markup` minlength="8" maxlength="256"` : markup` maxlength="255"`;
  return markup`
    <div>
      <label for="${id}">${props.label}</label>
      ${props.hint ? markup`<span class="hint" id="${id}-hint">${props.hint}</span>` : null}
      ${error ? markup`<span class="field-error" id="${id}-error">${error}</span>` : null}
      <input id="${id}" name="${props.name}" type="${props.type}" autocomplete="${props.autocomplete}" required=""${lengths}${
        props.value !== undefined ? markup` value="${props.value}"` : null
      }${error ? markup` aria-invalid="true"` : null}${describedBy ? markup` aria-describedby="${describedBy}"` : null}/>
    </div>`;
}

export function Message(props: { locale: Locale; title: string; body: string; link?: { href: string; label: string } | undefined }): Markup {
  return Page({
    locale: props.locale,
    title: props.title,
    children: markup`
      <p class="notice">${props.body}</p>
      ${props.link ? markup`<p><a href="${props.link.href}">${props.link.label}</a></p>` : null}`,
  });
}
