// Tool-invocation and trusted-data policies: both lists, and a form whose conditions are rows of key, operator and
// value. The API compiles the policy against the live configuration; its errors appear next to the field they name.
import { state, h, show, api, ApiError, errorBox, enc, formErrors, editButton, table } from "./core.js";

const KINDS = {
  "tool-invocation": {
    title: "Tool invocation",
    actions: ["block_always", "block_when_context_is_untrusted", "allow_when_context_is_untrusted", "require_approval"],
    keyHelp: "an argument of the call, e.g. path or to",
  },
  "trusted-data": {
    title: "Trusted data",
    actions: ["mark_as_trusted", "block_always", "sanitize_with_dual_llm"],
    keyHelp: "a field of the result, e.g. content or structuredContent.sender",
  },
};
const OPERATORS = ["equal", "notEqual", "contains", "notContains", "startsWith", "endsWith", "regex"];

export async function renderPolicies() {
  const [profiles, ...lists] = await Promise.all([api("GET", "/api/profiles"), ...Object.keys(KINDS).map((k) => api("GET", `/api/policies/${k}`))]);
  const message = h("div", { "aria-live": "polite" });
  const sections = Object.entries(KINDS).map(([kind, info], i) => {
    const rows = lists[i].items.map((p) =>
      h("tr", { "data-policy": p.id },
        h("td", {}, h("code", {}, p.tool)),
        h("td", {}, p.action),
        h("td", {}, p.conditions.length === 0 ? "always" : p.conditions.map((c) => `${c.key} ${c.operator} ${JSON.stringify(c.value)}`).join(" and ")),
        h("td", {}, p.reason || "—"),
        h("td", {}, p.profiles.length ? p.profiles.join(", ") : "every profile"),
        h("td", {}, p.managedBy),
        h("td", {}, editButton("Delete", p.managedBy === "file", async () => {
          if (!confirm(`Delete the policy on ${p.tool}?`)) return;
          try { await api("DELETE", `/api/policies/${kind}/${enc(p.id)}`); renderPolicies(); } catch (error) { message.replaceChildren(errorBox(error)); }
        }))));
    return [h("h2", {}, `${info.title} policies`),
      table(["Tool", "Action", "Conditions", "Reason", "Profiles", "Managed by", ""], rows, "None yet.")];
  });
  show(h("h1", {}, "Policies"),
    h("p", { class: "muted" }, "Tool-invocation policies decide each tools/call; trusted-data policies decide what a result does to the session's trust."),
    sections, message,
    whatWouldHappen(profiles.items),
    state.writable ? policyForm() : h("p", { class: "notice" }, "This key is read-only: creating and deleting policies is disabled."));
}

// Asks the live policies about a sample call (and result) through POST /api/policies/evaluate; nothing is called.
function whatWouldHappen(profiles) {
  const fields = {
    profile: h("select", { id: "w-profile", name: "profile" }, profiles.map((p) => h("option", { value: p.name }, p.name))),
    tool: h("input", { id: "w-tool", name: "tool", autocomplete: "off", placeholder: "files__write_file" }),
    arguments: h("textarea", { id: "w-arguments", name: "arguments", rows: 3, placeholder: '{"path": "/etc/passwd"}' }),
    result: h("textarea", { id: "w-result", name: "result", rows: 3, placeholder: 'optional: {"content": [{"type": "text", "text": "..."}]}' }),
  };
  const trusted = h("input", { type: "checkbox", id: "w-trusted", checked: true });
  const { field, general, clear, place } = formErrors(fields, "w-");
  const answer = h("div", { "aria-live": "polite", "data-testid": "evaluation" });
  const parse = (text, key) => {
    if (!text.trim()) return undefined;
    try { return JSON.parse(text); } catch { throw new ApiError(422, { detail: "not JSON", errors: [{ path: `$.${key}`, message: "not valid JSON" }] }); }
  };
  const line = (label, d) => h("p", {}, h("strong", {}, `${label}: ${d.decision}`),
    ` (${d.source === "policy" ? `policy ${d.policyId}` : d.source}) ${d.reason}`);
  return h("form", { class: "stack", "aria-label": "what would happen", onsubmit: async (e) => {
    e.preventDefault();
    clear();
    answer.replaceChildren();
    try {
      const body = { profile: fields.profile.value, tool: fields.tool.value.trim(), contextTrusted: trusted.checked,
        arguments: parse(fields.arguments.value, "arguments"), result: parse(fields.result.value, "result") };
      const d = await api("POST", "/api/policies/evaluate", body);
      answer.replaceChildren(line("The call", d.invocation), d.result ? line("The result", d.result) : null);
    } catch (error) {
      place(error);
    }
  } },
  h("h2", {}, "What would happen"),
  h("p", { class: "muted" }, "Evaluates a sample call against the policies in force now. Nothing is sent to any server."),
  field("profile", "Profile"), field("tool", "Tool to evaluate"), field("arguments", "Arguments (JSON object)"),
  h("label", { for: "w-trusted", class: "check" }, trusted, "The session's context is still trusted"),
  field("result", "Result (JSON, optional)"), general,
  h("div", {}, h("button", { type: "submit" }, "Evaluate")), answer);
}

function conditionRow(index, list) {
  const key = h("input", { "aria-label": `condition ${index + 1} key`, name: "key", autocomplete: "off" });
  const operator = h("select", { "aria-label": `condition ${index + 1} operator`, name: "operator" }, OPERATORS.map((o) => h("option", { value: o }, o)));
  const value = h("input", { "aria-label": `condition ${index + 1} value`, name: "value", autocomplete: "off" });
  const error = h("span", { class: "field-error", role: "alert" });
  const row = h("div", { class: "row condition" }, key, operator, value,
    h("button", { type: "button", class: "secondary", onclick: () => { row.remove(); list.splice(list.indexOf(entry), 1); } }, "Remove"), error);
  const entry = { row, key, operator, value, error };
  return entry;
}

function policyForm() {
  const fields = {
    kind: h("select", { id: "y-kind", name: "kind" }, Object.entries(KINDS).map(([k, info]) => h("option", { value: k }, info.title))),
    tool: h("input", { id: "y-tool", name: "tool", required: true, autocomplete: "off", placeholder: "files__write_file, files__* or *" }),
    action: h("select", { id: "y-action", name: "action" }),
    reason: h("input", { id: "y-reason", name: "reason", autocomplete: "off" }),
    profiles: h("input", { id: "y-profiles", name: "profiles", autocomplete: "off", placeholder: "empty: every profile; else names, comma separated" }),
  };
  const { field, general, clear, place } = formErrors(fields);
  const help = h("p", { class: "muted" });
  const setKind = () => {
    fields.action.replaceChildren(...KINDS[fields.kind.value].actions.map((a) => h("option", { value: a }, a)));
    help.textContent = `Condition keys: ${KINDS[fields.kind.value].keyHelp}. Every condition must hold.`;
  };
  fields.kind.addEventListener("change", setKind);
  setKind();
  const conditions = [];
  const list = h("div", { class: "stack" });
  const add = () => {
    const entry = conditionRow(conditions.length, conditions);
    conditions.push(entry);
    list.append(entry.row);
  };
  const form = h("form", { class: "stack", "aria-label": "create a policy", onsubmit: async (e) => {
    e.preventDefault();
    clear();
    for (const c of conditions) c.error.textContent = "";
    const body = {
      tool: fields.tool.value.trim(),
      action: fields.action.value,
      conditions: conditions.map((c) => ({ key: c.key.value.trim(), operator: c.operator.value, value: c.value.value })),
    };
    const profiles = fields.profiles.value.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
    if (profiles.length > 0) body.profiles = profiles; // left out: every profile that exposes the tool's server
    if (fields.reason.value.trim()) body.reason = fields.reason.value.trim();
    try {
      await api("POST", `/api/policies/${fields.kind.value}`, body);
      renderPolicies();
    } catch (error) {
      // $.conditions[2].operator goes under the third condition row; the rest under their fields.
      place(error, (path) => {
        const m = /^\$\.conditions\[(\d+)\]/.exec(path);
        if (m && conditions[Number(m[1])]) {
          const target = conditions[Number(m[1])].error;
          target.textContent = [target.textContent, error.problem.errors.filter((x) => x.path === path).map((x) => x.message).join("; ")].filter(Boolean).join("; ");
          return null;
        }
        return /^\$\.([A-Za-z]+)/.exec(path)?.[1];
      });
    }
  } },
  h("h2", {}, "Create a policy"),
  field("kind", "Kind"), field("tool", "Tool"), field("action", "Action"),
  h("fieldset", {}, h("legend", {}, "Conditions"), help, list,
    h("div", {}, h("button", { type: "button", class: "secondary", onclick: add }, "Add condition"))),
  field("reason", "Reason (shown to the client when refused)"), field("profiles", "Profiles"),
  general,
  h("div", {}, h("button", { type: "submit" }, "Create policy")));
  return form;
}
