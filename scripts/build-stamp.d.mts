/** Types of build-stamp.mjs for the TypeScript tests that use it. */
export declare const ROOT: string;
export declare function fingerprint(root?: string): { sources: string; outputs: string };
export declare function buildIsCurrent(root?: string): boolean;
export declare function writeStamp(root?: string): void;
