/** The languages mails and hosted pages are written in. */
export const LOCALES = ["en", "pt-BR"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";

/**
 * The best of our locales for an Accept-Language header: highest q first, a bare `pt` (or any
 * `pt-*`) counts as pt-BR, anything else falls back to English.
 */
export function negotiateLocale(acceptLanguage: string | null | undefined): Locale {
  if (!acceptLanguage) return DEFAULT_LOCALE;
  const ranked = acceptLanguage
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      const quality = q ? Number(q.slice(2)) : 1;
      return { tag: tag.trim().toLowerCase(), quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter((entry) => entry.tag && entry.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index);
  for (const { tag } of ranked) {
    if (tag === "pt" || tag.startsWith("pt-")) return "pt-BR";
    if (tag === "en" || tag.startsWith("en-")) return "en";
  }
  return DEFAULT_LOCALE;
}

/** One formatter per locale and isolate: building an Intl.DateTimeFormat costs far more than formatting with it. */
const dateTimeFormats = new Map<Locale, Intl.DateTimeFormat>();

/** "10 July 2026 at 14:32 UTC" / "10 de julho de 2026 às 14:32 UTC": invitees read dates, not ISO strings. */
export function formatDateTime(locale: Locale, epochMs: number): string {
  let format = dateTimeFormats.get(locale);
  if (!format) {
    format = new Intl.DateTimeFormat(locale === "pt-BR" ? "pt-BR" : "en-GB", { dateStyle: "long", timeStyle: "short", timeZone: "UTC" });
    dateTimeFormats.set(locale, format);
  }
  return `${format.format(new Date(epochMs))} UTC`;
}

const ROLE_LABELS: Record<Locale, Record<string, string>> = {
  en: { Owner: "Owner", Admin: "Admin", Developer: "Developer", Viewer: "Viewer" },
  "pt-BR": { Owner: "Proprietário", Admin: "Administrador", Developer: "Desenvolvedor", Viewer: "Leitor" },
};

export const roleLabel = (locale: Locale, role: string): string => ROLE_LABELS[locale][role] ?? role;
