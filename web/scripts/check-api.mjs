// Fails when src/lib/api-schema.d.ts is not what openapi-typescript makes of ../docs/api/openapi.json today.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = join(web, "..", "docs", "api", "openapi.json");
const committed = join(web, "src", "lib", "api-schema.d.ts");
const scratch = mkdtempSync(join(tmpdir(), "api-schema-"));
const fresh = join(scratch, "api-schema.d.ts");

try {
  execFileSync(join(web, "node_modules", ".bin", "openapi-typescript"), [spec, "-o", fresh], {
    cwd: web,
    stdio: ["ignore", "ignore", "inherit"],
  });
  let current;
  try {
    current = readFileSync(committed, "utf8");
  } catch {
    current = null;
  }
  if (current !== readFileSync(fresh, "utf8")) {
    console.error(
      "check:api: src/lib/api-schema.d.ts is stale: it does not match ../docs/api/openapi.json.\n" +
        "Regenerate it with `npm run gen:api` and commit the result.",
    );
    process.exitCode = 1;
  } else {
    console.log("check:api: src/lib/api-schema.d.ts matches ../docs/api/openapi.json");
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
