// Stand-in for drizzle-orm's pg-core/columns/enum.js in the deployed bundle (see README.md here): this Worker
// is SQLite (D1) only and never creates a Postgres enum, so no value it builds SQL from is one.
export const isPgEnum = (_value: unknown): false => false;
