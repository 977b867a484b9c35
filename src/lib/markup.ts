import { html } from "hono/html";

/** Markup: a string hono/html has escaped (or made of escaped parts), safe to insert as it is. */
export type Markup = ReturnType<typeof html>;

const compacted = new WeakMap<TemplateStringsArray, TemplateStringsArray>();

/**
 * hono/html's `html`, which escapes every interpolated value (a tenant called `<script>` is text), with the
 * line breaks and indentation of the template itself dropped, so a template can be laid out like the HTML it
 * makes. Values are never touched; a space that matters stays on its line.
 */
export function markup(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  let compact = compacted.get(strings);
  if (!compact) {
    compact = Object.assign(strings.map((part) => part.replace(/\n\s*/g, "")), { raw: strings.raw });
    compacted.set(strings, compact);
  }
  return html(compact, ...values);
}
