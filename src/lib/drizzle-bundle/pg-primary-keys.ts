// Stand-in for drizzle-orm's pg-core/primary-keys.js in the deployed bundle (see README.md here): only the
// relational-query schema walk (`drizzle(d1, { schema })`, never used here) looks for one.
import { entityKind } from "drizzle-orm";

export class PrimaryKeyBuilder {
  static readonly [entityKind]: string = "PgPrimaryKeyBuilder";
}
