import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { loadConfig } from "../env";
import { previewInvite, type InvitePreview } from "../features/invites/lifecycle";
import { acceptInvite, redeemInvite } from "../features/invites/service";
import { checkCredentials } from "../features/auth/service";
import { countLoginAttempt } from "../rate-limit/login";
import type { Caller } from "../http/app-env";
import type { AppEnv } from "../http/app-env";
import { ApiError } from "../http/errors";
import { emailSchema, passwordSchema } from "../http/fields";
import { negotiateLocale, roleLabel, type Locale } from "../lib/locale";
import { clientBudgets, HOUR_MS, limit, type RateLimitPolicy } from "../rate-limit/middleware";
import { errorText, fieldText, PAGE_COPY } from "./i18n";
import { InvitePage } from "./invite";
import { ResetPasswordPage, VerifyEmailPage } from "./account-pages";
import { verifyEmail } from "../features/email-verification/service";
import { confirmPasswordReset } from "../features/password-reset/service";
import type { Markup } from "../lib/markup";
import { Message, type FormErrors } from "./layout";
import { STYLESHEET, STYLESHEET_PATH } from "./styles";

const MAX_FORM_BYTES = 16 * 1024;

const formLimit = bodyLimit({
  maxSize: MAX_FORM_BYTES,
  onError: () => {
    throw new ApiError(413, "PAYLOAD_TOO_LARGE", `Form posts are limited to ${MAX_FORM_BYTES} bytes`);
  },
});

const localeOf = (c: Context<AppEnv>): Locale => negotiateLocale(c.req.header("Accept-Language"));

/** Spends the same per-client budget as the API route the page stands in for (same policy name, same limit). */
async function spend(c: Context<AppEnv>, policy: RateLimitPolicy): Promise<void> {
  await limit(c, await clientBudgets(c, policy));
}

const registerPolicy = (c: Context<AppEnv>): RateLimitPolicy => ({ name: "register", limit: loadConfig(c.env).limits.registerPerHour, windowMs: HOUR_MS });
const previewPolicy = (c: Context<AppEnv>): RateLimitPolicy => ({ name: "preview", limit: loadConfig(c.env).limits.previewPerHour, windowMs: HOUR_MS });

/**
 * A form post must come from our own pages: its Origin must be PUBLIC_URL's origin. Browsers send Origin
 * on every cross-site (and same-origin) form POST, so a missing one is refused too.
 */
export function sameOrigin(c: Context<AppEnv>): boolean {
  return c.req.header("Origin") === loadConfig(c.env).mail.publicOrigin;
}

function render(c: Context<AppEnv>, node: Markup, status: 200 | PageStatus = 200, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  // Pages are reached through secret links: no cache may keep them.
  c.header("Cache-Control", "no-store");
  return c.html(`<!doctype html>${String(node)}`, status);
}

function forbidden(c: Context<AppEnv>) {
  const copy = PAGE_COPY[localeOf(c)];
  return render(c, Message({ locale: localeOf(c), title: copy.forbiddenTitle, body: copy.forbiddenBody }), 403);
}

function notFoundPage(c: Context<AppEnv>) {
  const copy = PAGE_COPY[localeOf(c)];
  return render(c, Message({ locale: localeOf(c), title: copy.notFoundTitle, body: copy.notFoundBody }), 404);
}

type PageStatus = 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503;

/** An ApiError as the errors of `form`; anything else is rethrown (onError answers 500). */
function formErrors(locale: Locale, form: string, error: unknown): { errors: FormErrors; status: PageStatus; headers: Record<string, string> } {
  if (!(error instanceof ApiError)) throw error;
  const status = ([400, 401, 403, 404, 409, 429, 503] as const).find((s) => s === error.status) ?? 500;
  const retryAfter = error.headers["Retry-After"];
  return { errors: { form, summary: errorText(locale, error.code, error.message) }, status, headers: retryAfter ? { "Retry-After": retryAfter } : {} };
}

interface Credentials {
  email: string;
  password: string;
}

/** The form's email and password through the API's own field rules. */
function readCredentials(locale: Locale, form: string, body: Record<string, unknown>): { ok: true; value: Credentials } | { ok: false; errors: FormErrors; typed: string } {
  const typed = typeof body.email === "string" ? body.email.slice(0, 255) : "";
  const email = emailSchema.safeParse(typed);
  const password = passwordSchema.safeParse(typeof body.password === "string" ? body.password : "");
  if (email.success && password.success) return { ok: true, value: { email: email.data, password: password.data } };
  const fields: Record<string, string> = {};
  if (!email.success) fields.email = fieldText(locale, "email", email.error.issues[0]?.message ?? "");
  if (!password.success) fields.password = fieldText(locale, "password", password.error.issues[0]?.message ?? "");
  return { ok: false, typed, errors: { form, summary: Object.values(fields).join(" "), fields } };
}

/**
 * "I already have an account": the login's rules and limits (the same failure budgets, the same work for
 * every wrong answer), then the accept's, as `POST /auth/login` followed by `POST /invites/{token}/accept`.
 */
async function acceptWithPassword(c: Context<AppEnv>, token: string, credentials: Credentials) {
  const checked = await checkCredentials(c.env, credentials.email, credentials.password);
  await countLoginAttempt(c, credentials.email, checked !== null);
  if (!checked) throw new ApiError(401, "INVALID_CREDENTIALS", "Email or password is incorrect");
  const { account, memberships } = checked;
  const home = memberships[0]!;
  const caller: Caller = { userId: account.id, email: account.email, tenantId: home.tenantId, role: home.role, status: "Active", tenantExists: true, invitePolicy: "AdminsOnly", isOperator: false };
  const joined = await acceptInvite(c.env, caller, token);
  return { role: joined.role, email: joined.email, redirectUrl: joined.redirectUrl, tenantName: undefined };
}

export function pageRoutes() {
  const acceptEnabled = true;
  const invitePage = async (c: Context<AppEnv>, token: string, extra: { errors?: FormErrors; email?: string; status?: PageStatus; headers?: Record<string, string> } = {}) => {
    let preview: InvitePreview;
    try {
      preview = await previewInvite(c.env, token);
    } catch (error) {
      if (error instanceof ApiError && error.code === "INVITE_NOT_FOUND") return notFoundPage(c);
      throw error;
    }
    return render(c, InvitePage({ locale: localeOf(c), token, preview, errors: extra.errors, email: extra.email, acceptEnabled }), extra.status ?? 200, extra.headers);
  };

  return new Hono<AppEnv>()
    .get(STYLESHEET_PATH, (c) => {
      c.header("Cache-Control", "public, max-age=3600");
      return c.body(STYLESHEET, 200, { "Content-Type": "text/css; charset=utf-8" });
    })
    .get("/invite/:token", async (c) => {
      const locale = localeOf(c);
      try {
        await spend(c, previewPolicy(c));
      } catch (error) {
        const { errors, status, headers } = formErrors(locale, "page", error);
        return render(c, Message({ locale, title: PAGE_COPY[locale].errorSummary, body: errors.summary ?? "" }), status, headers);
      }
      return invitePage(c, c.req.param("token"));
    })
    .post("/invite/:token", formLimit, async (c) => {
      if (!sameOrigin(c)) return forbidden(c);
      const locale = localeOf(c);
      const token = c.req.param("token");
      const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const form = body.intent === "accept" ? "accept" : "register";
      try {
        await spend(c, registerPolicy(c));
      } catch (error) {
        return invitePage(c, token, formErrors(locale, form, error));
      }
      const credentials = readCredentials(locale, form, body);
      if (!credentials.ok) return invitePage(c, token, { errors: credentials.errors, email: credentials.typed, status: 400 });
      const copy = PAGE_COPY[locale];
      try {
        const joined =
          form === "accept"
            ? await acceptWithPassword(c, token, credentials.value)
            : await redeemInvite(c.env, token, credentials.value).then((user) => ({ role: user.role, email: user.email, redirectUrl: user.redirectUrl, tenantName: undefined }));
        const tenantName = joined.tenantName ?? (await previewInvite(c.env, token).then((p) => p.tenantName).catch(() => ""));
        return render(
          c,
          Message({
            locale,
            title: copy.joinedTitle(tenantName),
            body: copy.joinedBody(roleLabel(locale, joined.role), joined.email),
            // The invite's redirectUrl (an origin the tenant allowed, checked at create), else APP_URL.
            link: { href: joined.redirectUrl ?? loadConfig(c.env).mail.appUrl, label: copy.continue },
          }),
        );
      } catch (error) {
        return invitePage(c, token, { ...formErrors(locale, form, error), email: credentials.value.email });
      }
    })
    .get("/verify-email/:token", (c) => render(c, VerifyEmailPage({ locale: localeOf(c), token: c.req.param("token") })))
    .post("/verify-email/:token", formLimit, async (c) => {
      if (!sameOrigin(c)) return forbidden(c);
      const locale = localeOf(c);
      const copy = PAGE_COPY[locale];
      try {
        await verifyEmail(c.env, c.req.param("token"));
      } catch (error) {
        const { errors, status } = formErrors(locale, "verify", error);
        return render(c, VerifyEmailPage({ locale, token: c.req.param("token"), errors }), status);
      }
      return render(c, Message({ locale, title: copy.verifiedTitle, body: copy.verifiedBody, link: { href: loadConfig(c.env).mail.appUrl, label: copy.continue } }));
    })
    .get("/reset-password/:token", (c) => render(c, ResetPasswordPage({ locale: localeOf(c), token: c.req.param("token") })))
    .post("/reset-password/:token", formLimit, async (c) => {
      if (!sameOrigin(c)) return forbidden(c);
      const locale = localeOf(c);
      const copy = PAGE_COPY[locale];
      const token = c.req.param("token");
      const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const password = passwordSchema.safeParse(typeof body.password === "string" ? body.password : "");
      if (!password.success) {
        const message = fieldText(locale, "password", password.error.issues[0]?.message ?? "");
        return render(c, ResetPasswordPage({ locale, token, errors: { form: "reset", summary: message, fields: { password: message } } }), 400);
      }
      try {
        await confirmPasswordReset(c.env, token, password.data);
      } catch (error) {
        const { errors, status } = formErrors(locale, "reset", error);
        return render(c, ResetPasswordPage({ locale, token, errors }), status);
      }
      return render(c, Message({ locale, title: copy.resetDoneTitle, body: copy.resetDoneBody, link: { href: loadConfig(c.env).mail.appUrl, label: copy.continue } }));
    });
}
