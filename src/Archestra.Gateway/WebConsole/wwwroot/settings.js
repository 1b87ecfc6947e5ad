// The LLM proxy's providers (keys are write-only: the API answers only their names), prices, limits and
// optimization rules, and the admin API's keys (shown once, at creation). Each is one list with a form, described once.
import { state, h, show, api, errorBox, enc, formErrors, editButton, table } from "./core.js";

const when = (t) => (t ? new Date(t).toLocaleString() : "—");
const conditionsText = (c) =>
  [c.maxInputTokens != null && `input ≤ ${c.maxInputTokens} tokens`, c.maxInputChars != null && `input ≤ ${c.maxInputChars} characters`,
    c.hasTools != null && (c.hasTools ? "with tools" : "without tools"), c.requestedModel && `model ${c.requestedModel}`].filter(Boolean).join(", ") || "always";
// Not a number: sent as typed, so the API's error names the field.
const number = (v) => (v.trim() === "" ? undefined : Number.isNaN(Number(v)) ? v : Number(v));

const RESOURCES = {
  providers: {
    title: "LLM providers", path: "/api/llm/providers", key: (p) => p.name, label: "provider",
    columns: [["Name", (p) => p.name], ["Kind", (p) => p.kind], ["Base URL", (p) => p.baseUrl],
      ["Keys", (p) => p.apiKeys.map((k) => `${k.name}${k.hasKey ? "" : " (missing)"}`).join(", ") || "none"], ["Managed by", (p) => p.managedBy]],
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "kind", label: "Kind", options: ["openai", "anthropic", "gemini"] },
      { name: "baseUrl", label: "Base URL (empty: the provider's public API)", placeholder: "https://api.openai.com/v1" },
      { name: "keyName", label: "Key name", placeholder: "main" },
      { name: "key", label: "API key (write-only: never shown again)", type: "password" },
    ],
    body: (v) => ({
      name: v.name, kind: v.kind, ...(v.baseUrl ? { baseUrl: v.baseUrl } : {}),
      ...(v.key ? { apiKeys: [{ name: v.keyName || "main", key: v.key }] } : {}),
    }),
  },
  prices: {
    title: "Prices (USD per million tokens)", path: "/api/llm/prices", key: (p) => p.model, label: "price",
    columns: [["Model", (p) => p.model], ["Input", (p) => p.inputPerMillion], ["Cached input", (p) => p.cachedInputPerMillion ?? "—"],
      ["Output", (p) => p.outputPerMillion], ["Managed by", (p) => p.managedBy]],
    fields: [
      { name: "model", label: "Model", required: true, placeholder: "gpt-4o-mini" },
      { name: "inputPerMillion", label: "Input", type: "number" },
      { name: "cachedInputPerMillion", label: "Cached input (optional)", type: "number" },
      { name: "outputPerMillion", label: "Output", type: "number" },
    ],
    body: (v) => ({ model: v.model, inputPerMillion: number(v.inputPerMillion), outputPerMillion: number(v.outputPerMillion),
      cachedInputPerMillion: number(v.cachedInputPerMillion) }),
  },
  limits: {
    title: "Limits", path: "/api/llm/limits", key: (l) => l.id, label: "limit",
    columns: [["Profile", (l) => l.profile], ["Limit", (l) => `${l.kind} per ${l.period}`], ["Value", (l) => l.value], ["Managed by", (l) => l.managedBy]],
    fields: [
      { name: "profile", label: "Profile", required: true },
      { name: "kind", label: "Counts", options: ["tokens", "usd"] },
      { name: "period", label: "Per", options: ["day", "month", "total"] },
      { name: "value", label: "Value", type: "number" },
    ],
    body: (v) => ({ profile: v.profile, kind: v.kind, period: v.period, value: number(v.value) }),
  },
  rules: {
    title: "Optimization rules", path: "/api/llm/optimization-rules", key: (r) => r.id, label: "rule",
    columns: [["Profile", (r) => r.profile ?? "every profile"], ["When", (r) => conditionsText(r.conditions)], ["Model used", (r) => r.targetModel],
      ["Enabled", (r) => (r.enabled ? "yes" : "no")], ["Managed by", (r) => r.managedBy]],
    fields: [
      { name: "profile", label: "Profile (empty: every profile)" },
      { name: "requestedModel", label: "Requested model (glob, optional)", placeholder: "gpt-4*" },
      { name: "maxInputTokens", label: "At most this many input tokens (optional)", type: "number" },
      { name: "targetModel", label: "Use model", required: true },
    ],
    body: (v) => ({
      ...(v.profile ? { profile: v.profile } : {}), targetModel: v.targetModel,
      conditions: { ...(v.requestedModel ? { requestedModel: v.requestedModel } : {}), ...(v.maxInputTokens ? { maxInputTokens: number(v.maxInputTokens) } : {}) },
    }),
  },
  keys: {
    title: "Admin keys", path: "/api/admin-keys", key: (k) => k.name, label: "admin key",
    columns: [["Name", (k) => k.name], ["Scope", (k) => k.scope], ["Managed by", (k) => k.managedBy], ["Created", (k) => when(k.createdAt)],
      ["Last used", (k) => when(k.lastUsedAt)]],
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "scope", label: "Scope", options: ["read-only", "read-write"] },
    ],
    body: (v) => ({ name: v.name, scope: v.scope }),
    created: (k) => h("div", { class: "notice", role: "status" },
      h("p", {}, `Admin key '${k.name}' (${k.scope}). Copy it now: it is shown only this once.`), h("code", {}, h("output", { "data-testid": "new-admin-key" }, k.key))),
  },
};

async function section(id, r, rerender) {
  const list = await api("GET", r.path);
  const message = h("div", { "aria-live": "polite" });
  const rows = list.items.map((item) =>
    h("tr", { "data-item": r.key(item) }, r.columns.map(([, cell]) => h("td", {}, cell(item))),
      h("td", {}, editButton("Delete", item.managedBy === "file", async () => {
        if (!confirm(`Delete the ${r.label} '${r.key(item)}'?`)) return;
        try { await api("DELETE", `${r.path}/${enc(r.key(item))}`); rerender(); } catch (error) { message.replaceChildren(errorBox(error)); }
      }, { "aria-label": `Delete ${r.label} ${r.key(item)}` }))));
  const fields = Object.fromEntries(r.fields.map((f) => [f.name, f.options
    ? h("select", { id: `${id}-${f.name}`, name: f.name }, f.options.map((o) => h("option", { value: o }, o)))
    : h("input", { id: `${id}-${f.name}`, name: f.name, type: f.type === "number" ? "text" : f.type || "text", inputmode: f.type === "number" ? "decimal" : undefined,
      required: f.required, autocomplete: "off", placeholder: f.placeholder })]));
  const { field, general, clear, place } = formErrors(fields, `${id}-`);
  const form = h("form", { class: "stack", "aria-label": `add ${r.label}`, onsubmit: async (e) => {
    e.preventDefault();
    clear();
    const values = Object.fromEntries(Object.entries(fields).map(([k, input]) => [k, input.value.trim()]));
    try {
      const created = await api("POST", r.path, r.body(values));
      if (r.created) message.replaceChildren(r.created(created));
      await rerender(r.created ? message : null);
    } catch (error) {
      place(error);
    }
  } }, r.fields.map((f) => field(f.name, f.label)), general, h("div", {}, h("button", { type: "submit" }, `Add ${r.label}`)));
  return h("section", { "aria-label": r.title }, h("h2", {}, r.title),
    table([...r.columns.map(([t]) => t), ""], rows, "None yet."), message, state.writable ? form : null);
}

async function render(ids, heading, intro, kept) {
  const again = (keep) => render(ids, heading, intro, keep);
  const sections = await Promise.all(ids.map((id) => section(id, RESOURCES[id], again)));
  show(h("h1", {}, heading), h("p", { class: "muted" }, intro), kept || null,
    state.writable ? null : h("p", { class: "notice" }, "This key is read-only: adding and deleting is disabled."), sections);
}

export const renderLlm = () => render(["providers", "prices", "limits", "rules"], "LLM proxy",
  "Providers the LLM proxy forwards to, what their models cost, how much each profile may use, and which model a request is moved to.");

export const renderKeys = () => render(["keys"], "Admin keys",
  "Keys for this admin API and console. A read-only key may only read; keys from the configuration file cannot be deleted here.");
