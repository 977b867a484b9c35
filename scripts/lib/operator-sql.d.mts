export declare const OPERATOR_ACTIONS: readonly ["grant", "revoke"];
export declare class OperatorInputError extends Error {}
export declare function operatorEmail(raw: unknown): string;
export declare function operatorStatement(action: string, rawEmail: unknown, now?: number): string;
