import type { RateLimiter } from "./rate-limit/rate-limiter";

/** Bindings, vars and secrets declared in wrangler.toml / .dev.vars / `wrangler secret put`. */
export interface Env {
  DB: D1Database;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  JWT_PRIVATE_KEY?: string;
  INVITE_TOKEN_KEY?: string;
  PASSWORD_PEPPER?: string;
  /** JSON array of retired public JWKs still accepted for verification */
  JWT_PREVIOUS_PUBLIC_KEYS?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  REGISTER_LIMIT_PER_HOUR?: string;
  TENANT_SIGNUP_LIMIT_PER_HOUR?: string;
  LOGIN_FAILURES_PER_5_MIN?: string;
  PREVIEW_LIMIT_PER_HOUR?: string;
}

export interface Limits {
  registerPerHour: number;
  tenantSignupPerHour: number;
  loginFailuresPer5Min: number;
  previewPerHour: number;
}

export interface Config {
  issuer: string;
  audience: string;
  limits: Limits;
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

const configCache = new WeakMap<Env, Config>();

export function loadConfig(env: Env): Config {
  let config = configCache.get(env);
  if (!config) {
    config = {
      issuer: env.JWT_ISSUER || "edge-invites",
      audience: env.JWT_AUDIENCE || "edge-invites-api",
      limits: {
        registerPerHour: positiveInt(env, "REGISTER_LIMIT_PER_HOUR", 10),
        tenantSignupPerHour: positiveInt(env, "TENANT_SIGNUP_LIMIT_PER_HOUR", 5),
        loginFailuresPer5Min: positiveInt(env, "LOGIN_FAILURES_PER_5_MIN", 10),
        previewPerHour: positiveInt(env, "PREVIEW_LIMIT_PER_HOUR", 60),
      },
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
