// LLM usage and cost of the last 30 days per UTC day (charts drawn as SVG here: nothing is fetched from elsewhere),
// per profile and model, and each profile's limits against what it used in the limit's period.
import { h, show, api, table } from "./core.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A bar per day; each bar has a <title> with its exact value, and the figure a text alternative. */
function barChart(label, days, values, format) {
  const width = 720, height = 160, pad = 28;
  const max = Math.max(...values, 0) || 1;
  const step = (width - pad) / Math.max(days.length, 1);
  const bars = days.map((day, i) => {
    const barHeight = Math.round((values[i] / max) * (height - pad));
    return svg("rect", { x: pad + i * step + 1, y: height - pad - barHeight, width: Math.max(step - 2, 1), height: barHeight, class: "bar-fill" },
      svg("title", {}, `${day}: ${format(values[i])}`));
  });
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${label}, ${days[0]} to ${days[days.length - 1]}`, class: "chart" },
    svg("text", { x: 0, y: 12, class: "axis" }, format(max)),
    svg("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis-line" }),
    svg("text", { x: pad, y: height - 8, class: "axis" }, days[0]),
    svg("text", { x: width, y: height - 8, class: "axis", "text-anchor": "end" }, days[days.length - 1]),
    ...bars);
  return h("figure", {}, h("figcaption", {}, label), chart);
}

function lastDays(to, count) {
  const days = [];
  for (let i = count - 1; i >= 0; i--) days.push(new Date(to.getTime() - i * 86_400_000).toISOString().slice(0, 10));
  return days;
}

const usd = (v) => (v === 0 ? "$0" : v < 0.01 ? `$${v.toPrecision(3)}` : `$${v.toFixed(2)}`);
const tokens = (v) => v.toLocaleString("en-US");

export async function renderUsage() {
  const [usage, limits] = await Promise.all([api("GET", "/api/usage"), api("GET", "/api/llm/limits")]);
  const days = lastDays(new Date(usage.to), 30);
  const perDay = new Map(days.map((d) => [d, { tokens: 0, cost: 0 }]));
  for (const item of usage.items) {
    const day = perDay.get(item.day);
    if (!day) continue;
    day.tokens += item.inputTokens + item.outputTokens;
    day.cost += Number(item.cost);
  }
  const today = new Date(usage.to).toISOString().slice(0, 10);
  const used = (profile, kind, period) => usage.items
    .filter((i) => i.profile === profile && (period === "day" ? i.day === today : period === "month" ? i.day.slice(0, 7) === today.slice(0, 7) : true))
    .reduce((sum, i) => sum + (kind === "usd" ? Number(i.cost) : i.inputTokens + i.outputTokens), 0);
  const rows = usage.items.map((i) =>
    h("tr", {}, h("td", {}, i.day), h("td", {}, i.profile), h("td", {}, i.model), h("td", {}, i.requests),
      h("td", {}, tokens(i.inputTokens)), h("td", {}, tokens(i.outputTokens)), h("td", {}, tokens(i.cachedInputTokens)), h("td", {}, usd(Number(i.cost)))));
  const limitRows = limits.items.map((l) => {
    const spent = used(l.profile, l.kind, l.period);
    const value = Number(l.value);
    const share = value > 0 ? Math.min(spent / value, 1) : 1;
    const fmt = l.kind === "usd" ? usd : tokens;
    return h("tr", { "data-limit": l.id },
      h("td", {}, l.profile), h("td", {}, `${l.kind} per ${l.period}`), h("td", {}, fmt(value)),
      h("td", {}, `${fmt(spent)}${l.period === "total" ? " (last 30 days)" : ""}`),
      h("td", {}, h("meter", { min: 0, max: 1, value: share, high: 0.8, optimum: 0, "aria-label": `${Math.round(share * 100)}% of the limit used` }),
        ` ${Math.round(share * 100)}%`));
  });
  show(h("h1", {}, "Usage and cost"),
    h("p", { class: "muted" }, `LLM calls through the proxy, ${days[0]} to ${days[days.length - 1]} (UTC days).`),
    usage.items.length === 0 ? h("p", { class: "muted" }, "No LLM usage recorded in the last 30 days.") : [
      h("div", { class: "charts" },
        barChart("Tokens per day", days, days.map((d) => perDay.get(d).tokens), tokens),
        barChart("Cost per day (USD)", days, days.map((d) => perDay.get(d).cost), usd)),
    ],
    h("h2", {}, "Limits"),
    table(["Profile", "Limit", "Value", "Used", ""], limitRows, "No limits: set them with /api/llm/limits."),
    h("h2", {}, "Per day, profile and model"),
    table(["Day", "Profile", "Model", "Requests", "Input tokens", "Output tokens", "Cached input", "Cost"], rows, "Nothing yet."));
}
