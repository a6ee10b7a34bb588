// A Worker (workerd) that runs one reserve scenario against the loopback batch server of
// examples/server/ over real HTTP, with the fetch transport of examples/node/transports.mjs.
//   GET /reserve?poison=<lease_id>&leases=<json>  (the server's URL is the BATCH_URL binding)
//   → { outcomes: [{ status, value? , error? }], stats }
import { Batcher } from "hyperbatch";
import { reserveCompleteTransport, reserveOrComplete } from "../../../examples/node/transports.mjs";
import { runReserveScenario } from "../integration-scenario.js";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/reserve") return new Response("not found", { status: 404 });
    const baseUrl = url.searchParams.get("server") ?? env.BATCH_URL;
    const items = JSON.parse(url.searchParams.get("items"));
    const poison = url.searchParams.get("poison");
    try {
      const result = await runReserveScenario({ Batcher, reserveCompleteTransport, reserveOrComplete, baseUrl, items, poison });
      return Response.json({ runtime: "workerd", ...result });
    } catch (e) {
      return Response.json({ error: `${e?.name}: ${e?.message}\n${e?.stack ?? ""}` }, { status: 500 });
    }
  },
};
