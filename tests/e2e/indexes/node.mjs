// The index scenario (./scenario.mjs) through @deno/kv on Node.js.
import { run } from "./scenario.mjs";
import { main } from "../node/_lib.mjs";

await main(run);
