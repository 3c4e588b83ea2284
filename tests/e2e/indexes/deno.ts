// The index scenario (./scenario.mjs) through the Deno runtime's KV Connect client.
import { run } from "./scenario.mjs";
import { main } from "../deno/_lib.ts";

await main(run);
