// Compile-time check of the published types (tsc -p npm/test/tsconfig.json, no emit).
import { rulesIsExpired, version } from "tokenclock";

const v: string = version();
const expired: boolean = rulesIsExpired(1000, 1000, 0);
// @ts-expect-error: times are numbers of milliseconds, not strings.
rulesIsExpired("1000", 1000, 0);
// @ts-expect-error: all three arguments are required.
rulesIsExpired(1000, 1000);

export { v, expired };
