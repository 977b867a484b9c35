import type { Child } from "hono/jsx";
import type { Locale } from "../lib/locale";
import { STYLESHEET_PATH } from "./styles";

export function Page(props: { locale: Locale; title: string; children: Child }) {
  return (
    <html lang={props.locale}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <meta name="robots" content="noindex" />
        <title>{props.title}</title>
        <link rel="stylesheet" href={STYLESHEET_PATH} />
      </head>
      <body>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Errors of one form: a summary announced to screen readers, plus a message per field. */
export interface FormErrors {
  /** which form they belong to (a page may hold two) */
  form?: string;
  summary?: string;
  fields?: Record<string, string>;
}

export function ErrorSummary(props: { title: string; errors: FormErrors | undefined; form: string }) {
  if (!props.errors || props.errors.form !== props.form || !props.errors.summary) return null;
  return (
    <div class="error-summary" role="alert" id={`${props.form}-errors`}>
      <strong>{props.title}</strong>
      <p>{props.errors.summary}</p>
    </div>
  );
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
}) {
  const id = `${props.form}-${props.name}`;
  const error = props.errors?.form === props.form ? props.errors.fields?.[props.name] : undefined;
  const describedBy = [props.hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div>
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <span class="hint" id={`${id}-hint`}>
          {props.hint}
        </span>
      ) : null}
      {error ? (
        <span class="field-error" id={`${id}-error`}>
          {error}
        </span>
      ) : null}
      <input
        id={id}
        name={props.name}
        type={props.type}
        autocomplete={props.autocomplete}
        required
        {...(props.type === "password" ? { minlength: 8, maxlength: 256 } : { maxlength: 255 })}
        {...(props.value !== undefined ? { value: props.value } : {})}
        {...(error ? { "aria-invalid": "true" } : {})}
        {...(describedBy ? { "aria-describedby": describedBy } : {})}
      />
    </div>
  );
}

export function Message(props: { locale: Locale; title: string; body: string; link?: { href: string; label: string } | undefined }) {
  return (
    <Page locale={props.locale} title={props.title}>
      <p class="notice">{props.body}</p>
      {props.link ? (
        <p>
          <a href={props.link.href}>{props.link.label}</a>
        </p>
      ) : null}
    </Page>
  );
}
