import { parseCidr, type Cidr } from "./rate-limit/client-key";
import { loadPepperRing, type PepperRing } from "./security/passwords";
import type { RateLimiter } from "./rate-limit/rate-limiter";
import type { WebhookMessage } from "./outbox/webhooks";
import type { MailJobMessage } from "./outbox/mail-jobs";

/** Bindings, vars and secrets declared in wrangler.toml / .dev.vars / `wrangler secret put`. */
export interface Env {
  DB: D1Database;
  /** static assets (`[assets]`): public/openapi.json, read by GET /openapi.json (src/http/api-docs.ts) */
  ASSETS: Fetcher;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** producer of the `edge-invites-webhooks` Queue (consumer: src/outbox/webhooks.ts) */
  WEBHOOK_QUEUE: Queue<WebhookMessage>;
  /** "1" only under `npm run dev` (.dev.vars): webhook URLs may be plain http://localhost / 127.0.0.1. Never in wrangler.toml */
  ALLOW_LOCAL_WEBHOOKS?: string;
  /** Cloudflare Email Service (`[[send_email]]`) */
  EMAIL: SendEmail;
  /** mail delivery jobs (`[[queues.producers]]`, consumed by this Worker) */
  MAIL_QUEUE: Queue<MailJobMessage>;
  /** sender of every mail, on a domain onboarded to Email Service */
  EMAIL_FROM?: string;
  /** origin (and optional path prefix) of the hosted pages: mail links, and the Origin form posts must carry */
  PUBLIC_URL?: string;
  /** invite link in mails; `{PUBLIC_URL}` and `{token}` are replaced. Default `{PUBLIC_URL}/invite/{token}` */
  INVITE_LINK_TEMPLATE?: string;
  /** where the hosted pages' success pages link to */
  APP_URL?: string;
  /** "1" only under `npm run dev`: keeps a copy of every mail, listed at /__dev/mail. Never in wrangler.toml. */
  MAIL_CATCHER?: string;
  JWT_PRIVATE_KEY?: string;
  INVITE_TOKEN_KEY?: string;
  /** comma-separated retired INVITE_TOKEN_KEYs: still decrypt until the scheduled re-encryption has moved every row */
  INVITE_TOKEN_PREVIOUS_KEYS?: string;
  /** required unless ENVIRONMENT is "development"; keys an HMAC of every password before PBKDF2 */
  PASSWORD_PEPPER?: string;
  /** comma-separated retired peppers: hashes made with them still verify and are rehashed at login */
  PASSWORD_PREVIOUS_PEPPERS?: string;
  /** "development" only in .dev.vars (npm run dev) and the test config; unset in production (strict) */
  ENVIRONMENT?: string;
  /** JSON array of retired public JWKs still accepted for verification */
  JWT_PREVIOUS_PUBLIC_KEYS?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  REGISTER_LIMIT_PER_HOUR?: string;
  TENANT_SIGNUP_LIMIT_PER_HOUR?: string;
  LOGIN_FAILURES_PER_5_MIN?: string;
  PREVIEW_LIMIT_PER_HOUR?: string;
  LOGIN_FAILURES_PER_HOUR_PER_EMAIL?: string;
  LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL?: string;
  LOGIN_SUCCESSES_PER_HOUR_PER_IP?: string;
  REFRESH_LIMIT_PER_HOUR?: string;
  INVITE_CREATE_LIMIT_PER_HOUR?: string;
  /** live refresh-token families (signed-in sessions) per account, in all its tenants together */
  MAX_SESSIONS_PER_ACCOUNT?: string;
  /** seconds after a refresh in which re-presenting the spent token is a benign retry ("0": strict) */
  REFRESH_REUSE_GRACE_SECONDS?: string;
  PASSWORD_RESET_LIMIT_PER_HOUR_PER_IP?: string;
  PASSWORD_RESET_LIMIT_PER_HOUR_PER_EMAIL?: string;
  /** comma-separated HMAC secrets of backend-for-frontend proxies that sign the X-Client-IP they forward */
  TRUSTED_PROXY_SECRETS?: string;
  /** comma-separated networks (IPv4/IPv6 CIDR) whose connections may forward X-Client-IP without signing */
  TRUSTED_PROXY_CIDRS?: string;
  TRUSTED_PROXY_LIMIT_PER_HOUR?: string;
  /** comma-separated browser origins allowed by CORS (scheme://host[:port]), or "*" */
  CORS_ORIGINS?: string;
  /** at most this many Pending invites per tenant (§2.9) */
  MAX_PENDING_INVITES_PER_TENANT?: string;
}

export interface Limits {
  registerPerHour: number;
  tenantSignupPerHour: number;
  loginFailuresPer5Min: number;
  previewPerHour: number;
  trustedProxyPerHour: number;
  /** all failed logins for one email, from every network: the ceiling on distributed guessing */
  loginFailuresPerHourPerEmail: number;
  loginSuccessesPerHourPerEmail: number;
  loginSuccessesPerHourPerIp: number;
  /** refreshes per refresh-token family (one signed-in session) */
  refreshesPerHour: number;
  /** invites created per tenant */
  inviteCreatesPerHour: number;
  passwordResetPerHourPerIp: number;
  passwordResetPerHourPerEmail: number;
}

export interface Config {
  issuer: string;
  audience: string;
  limits: Limits;
  /** a spent refresh token presented again within this many ms is refused without revoking its family */
  refreshReuseGraceMs: number;
  /** live refresh families per account; a login past it ends the least recently used one */
  maxSessionsPerAccount: number;
  trustedProxySecrets: string[];
  /** TRUSTED_PROXY_CIDRS: proxies trusted by their connecting address, without a signature */
  trustedProxyCidrs: Cidr[];
  corsOrigins: string[];
  maxPendingInvitesPerTenant: number;
  mail: MailConfig;
}

export interface MailConfig {
  from: string;
  /** PUBLIC_URL without a trailing slash */
  publicUrl: string;
  /** its origin: what a hosted form's Origin header must equal */
  publicOrigin: string;
  inviteLinkTemplate: string;
  appUrl: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function positiveInt(env: Env, name: keyof Env, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`Configuration var ${name} must be a positive integer, got "${String(raw)}"`);
  }
  return value;
}

function nonNegativeInt(env: Env, name: keyof Env, fallback: number): number {
  return env[name] === "0" ? 0 : positiveInt(env, name, fallback);
}

const MIN_SHARED_SECRET_LENGTH = 32;

/** Several entries allow rotation; a short one would be guessable, so it is refused, not trusted. */
function secretList(env: Env, name: "TRUSTED_PROXY_SECRETS"): string[] {
  const secrets = (env[name] ?? "").split(",").map((secret) => secret.trim()).filter(Boolean);
  if (secrets.some((secret) => secret.length < MIN_SHARED_SECRET_LENGTH)) {
    throw new ConfigError(`Secret ${name} must list secrets of at least ${MIN_SHARED_SECRET_LENGTH} characters each`);
  }
  return secrets;
}

/** A typo would silently trust nobody (or, with host bits set, not what was meant), so it is refused. */
function cidrList(env: Env, name: "TRUSTED_PROXY_CIDRS"): Cidr[] {
  const entries = (env[name] ?? "").split(",").map((entry) => entry.trim()).filter(Boolean);
  return entries.map((entry) => {
    const cidr = parseCidr(entry);
    if (!cidr) throw new ConfigError(`Configuration var ${name} must list networks such as 203.0.113.0/24 or 2001:db8::/48 (host bits zero), got "${entry}"`);
    return cidr;
  });
}

/** A typo such as a trailing path would silently never match a browser's Origin, so it is refused. */
function originList(env: Env, name: "CORS_ORIGINS"): string[] {
  const entries = (env[name] ?? "").split(",").map((entry) => entry.trim()).filter(Boolean);
  return entries.map((entry) => {
    if (entry === "*") return entry;
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
      throw new ConfigError(`Configuration var ${name} must list origins such as https://app.example.com, got "${entry}"`);
    }
    return url.origin;
  });
}

function httpUrl(env: Env, name: "PUBLIC_URL" | "APP_URL", fallback: string): URL {
  const raw = env[name] || fallback;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`Configuration var ${name} must be an http(s) URL such as https://invites.example.com, got "${raw}"`);
  }
  return url;
}

export const DEFAULT_INVITE_LINK_TEMPLATE = "{PUBLIC_URL}/invite/{token}";

function mailConfig(env: Env): MailConfig {
  const publicUrl = httpUrl(env, "PUBLIC_URL", "http://localhost:8787");
  const template = env.INVITE_LINK_TEMPLATE || DEFAULT_INVITE_LINK_TEMPLATE;
  if (!template.includes("{token}")) {
    throw new ConfigError(`Configuration var INVITE_LINK_TEMPLATE must contain {token}, got "${template}"`);
  }
  return {
    from: env.EMAIL_FROM || "invites@edge-invites.example",
    publicUrl: publicUrl.href.replace(/\/+$/, ""),
    publicOrigin: publicUrl.origin,
    inviteLinkTemplate: template,
    appUrl: httpUrl(env, "APP_URL", publicUrl.href).href,
  };
}

const configCache = new WeakMap<Env, Config>();
/** A per-request copy of the Worker's env (withBindings) → that env, whose parsed configuration it shares. */
const derivedFrom = new WeakMap<Env, Env>();

/**
 * `env` with some bindings replaced for one request (e.g. D1 bound to the request's session). The copy
 * shares `env`'s parsed configuration, so a request does not parse every var again.
 */
export function withBindings(env: Env, overrides: Partial<Env>): Env {
  // Not a spread: copying every binding and var of the env per request costs more than the request's routing.
  const derived = Object.create(env, Object.fromEntries(Object.entries(overrides).map(([name, value]) => [name, { value, enumerable: true }]))) as Env;
  derivedFrom.set(derived, derivedFrom.get(env) ?? env);
  return derived;
}

export function loadConfig(env: Env): Config {
  env = derivedFrom.get(env) ?? env;
  let config = configCache.get(env);
  if (!config) {
    config = {
      issuer: env.JWT_ISSUER || "edge-invites",
      audience: env.JWT_AUDIENCE || "edge-invites-api",
      maxSessionsPerAccount: positiveInt(env, "MAX_SESSIONS_PER_ACCOUNT", 10),
      refreshReuseGraceMs: nonNegativeInt(env, "REFRESH_REUSE_GRACE_SECONDS", 10) * 1000,
      limits: {
        registerPerHour: positiveInt(env, "REGISTER_LIMIT_PER_HOUR", 10),
        tenantSignupPerHour: positiveInt(env, "TENANT_SIGNUP_LIMIT_PER_HOUR", 5),
        loginFailuresPer5Min: positiveInt(env, "LOGIN_FAILURES_PER_5_MIN", 10),
        previewPerHour: positiveInt(env, "PREVIEW_LIMIT_PER_HOUR", 60),
        trustedProxyPerHour: positiveInt(env, "TRUSTED_PROXY_LIMIT_PER_HOUR", 1000),
        loginFailuresPerHourPerEmail: positiveInt(env, "LOGIN_FAILURES_PER_HOUR_PER_EMAIL", 100),
        loginSuccessesPerHourPerEmail: positiveInt(env, "LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL", 20),
        loginSuccessesPerHourPerIp: positiveInt(env, "LOGIN_SUCCESSES_PER_HOUR_PER_IP", 100),
        refreshesPerHour: positiveInt(env, "REFRESH_LIMIT_PER_HOUR", 20),
        inviteCreatesPerHour: positiveInt(env, "INVITE_CREATE_LIMIT_PER_HOUR", 200),
        passwordResetPerHourPerIp: positiveInt(env, "PASSWORD_RESET_LIMIT_PER_HOUR_PER_IP", 10),
        passwordResetPerHourPerEmail: positiveInt(env, "PASSWORD_RESET_LIMIT_PER_HOUR_PER_EMAIL", 3),
      },
      trustedProxySecrets: secretList(env, "TRUSTED_PROXY_SECRETS"),
      trustedProxyCidrs: cidrList(env, "TRUSTED_PROXY_CIDRS"),
      corsOrigins: originList(env, "CORS_ORIGINS"),
      maxPendingInvitesPerTenant: positiveInt(env, "MAX_PENDING_INVITES_PER_TENANT", 1000),
      mail: mailConfig(env),
    };
    configCache.set(env, config);
  }
  return config;
}

/** A missing secret is an operator error that must be named, never papered over with a default. */
export function requireSecret(env: Env, name: "JWT_PRIVATE_KEY" | "INVITE_TOKEN_KEY"): string {
  const value = env[name];
  if (!value) throw new ConfigError(`Secret ${name} is not configured (see README, "Configuration")`);
  return value;
}

/**
 * The password peppers. Outside local development (ENVIRONMENT=development, which only `npm run dev`'s
 * .dev.vars and the test config set) a missing PASSWORD_PEPPER is an error naming it: a production
 * deployment must never hash passwords without one by accident.
 */
export function passwordPeppers(env: Env): Promise<PepperRing> {
  if (!env.PASSWORD_PEPPER && env.ENVIRONMENT !== "development") {
    throw new ConfigError(
      'Secret PASSWORD_PEPPER is not configured; it is required outside local development (ENVIRONMENT="development") (see README, "Configuration")',
    );
  }
  return loadPepperRing(env.PASSWORD_PEPPER, env.PASSWORD_PREVIOUS_PEPPERS);
}
