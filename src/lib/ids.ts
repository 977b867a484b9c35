import { v7 as uuidv7 } from "uuid";

/** UUIDv7: time-ordered, so sorting by id is sorting by creation. */
export const newId = (): string => uuidv7();

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
