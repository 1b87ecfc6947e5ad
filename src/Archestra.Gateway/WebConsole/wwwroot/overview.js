// The overview's live figures: the last minute's tool calls and LLM requests with their failures, and the audit queue,
// from GET /api/status (its `rates`, counted by this gateway over a sliding minute). They refresh every few seconds
// while the overview is shown, changing only the numbers, so focus and reading position stay where they are.
import { h, api } from "./core.js";

export const REFRESH_MS = 5000;

const figures = [
  ["rate-tool-calls", "tool calls / min", (s) => s.rates.toolCalls],
  ["rate-tool-errors", "failed tool calls / min", (s) => s.rates.toolCallErrors],
  ["rate-llm", "LLM requests / min", (s) => s.rates.llmRequests],
  ["rate-llm-errors", "failed LLM requests / min", (s) => s.rates.llmErrors],
  ["audit-queue", "audit records waiting", (s) => s.auditQueue],
];

/** The cards for `status`; they follow the live values until they leave the page. */
export function liveRates(status) {
  const numbers = new Map();
  const cards = figures.map(([id, label, value]) => {
    const n = h("div", { class: "n", "data-testid": id }, value(status));
    numbers.set(id, n);
    return h("div", { class: "card" }, n, h("div", { class: "muted" }, label));
  });
  const updated = h("p", { class: "muted", "aria-live": "off" }, `Rates over the last ${status.rates.windowSeconds} s, refreshed every ${REFRESH_MS / 1000} s.`);
  const section = h("section", { "aria-label": "live rates" }, h("div", { class: "cards" }, cards), updated);
  const timer = setInterval(async () => {
    if (!section.isConnected) {
      clearInterval(timer);
      return;
    }
    try {
      const fresh = await api("GET", "/api/status");
      for (const [id, , value] of figures) numbers.get(id).textContent = String(value(fresh));
      section.classList.remove("stale");
    } catch {
      section.classList.add("stale"); // shown dimmed; the next tick tries again
    }
  }, REFRESH_MS);
  return section;
}
