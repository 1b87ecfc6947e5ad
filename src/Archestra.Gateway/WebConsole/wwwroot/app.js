// The Archestra console: every action goes through the admin API with the key in sessionStorage. Values from the
// server (names, descriptions, log lines, arguments) are attacker-controlled: they are only ever set as text.
import { KEY, main, state, onUnauthorized, h, show, ApiError, api, errorBox, stateCell, formErrors } from "./core.js";
import { renderProfiles } from "./profiles.js";
import { renderPolicies } from "./policies.js";
import { renderUsage } from "./usage.js";
import { renderLlm, renderKeys } from "./settings.js";
import { liveRates } from "./overview.js";

// ---- sign-in -------------------------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.key = null;
  renderSignIn(message);
}

function renderSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true, "aria-describedby": "key-help" });
  const problem = h("p", { class: "field-error", id: "signin-error", role: "alert" }, message || "");
  const form = h("form", { class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    state.key = input.value.trim();
    try {
      await detectScope();
      sessionStorage.setItem(KEY, state.key);
      location.hash = "#/overview";
      route();
    } catch (error) {
      state.key = null;
      problem.textContent = error instanceof ApiError && error.status === 401
        ? "This key was refused: check it, or create one with POST /api/admin-keys."
        : String(error.message || error);
    }
  } },
  h("label", { for: "key" }, "Admin key", input),
  h("span", { id: "key-help", class: "muted" }, "The key printed at first start (arc_admin_…) or one from adminKeys. It stays in this tab only."),
  problem,
  h("div", {}, h("button", { type: "submit" }, "Sign in")));
  show(h("h1", {}, "Sign in"), form);
  input.focus();
}

// A read-only key is refused writes with 403; an invalid body shows a read-write key without changing anything.
async function detectScope() {
  await api("GET", "/api/mcp-servers");
  try {
    await api("POST", "/api/admin-keys", {});
    state.writable = true;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    state.writable = error.status !== 403;
    const m = /admin key '([^']*)'/.exec(error.problem?.detail || "");
    state.name = m ? m[1] : "";
  }
  document.getElementById("who").textContent = state.writable ? "read-write key" : `read-only key${state.name ? ` '${state.name}'` : ""}`;
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
}

// ---- pages ---------------------------------------------------------------------------------------------------------

async function renderOverview() {
  const [status, calls] = await Promise.all([
    api("GET", "/api/status"),
    api("GET", "/api/audit/mcp-tool-calls?limit=10&sort=desc"),
  ]);
  const ready = status.servers.filter((s) => s.state === "ready").length;
  show(
    h("h1", {}, "Overview"),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "n", "data-testid": "servers-ready" }, `${ready} / ${status.servers.length}`), h("div", { class: "muted" }, "MCP servers ready")),
      h("div", { class: "card" }, h("div", { class: "n" }, status.sessions), h("div", { class: "muted" }, "MCP sessions")),
      h("div", { class: "card" }, h("div", { class: "n" }, status.profiles.length), h("div", { class: "muted" }, "profiles")),
      h("div", { class: "card" }, h("div", { class: "n" }, status.version), h("div", { class: "muted" }, "gateway version"))),
    h("h2", {}, "Last minute"),
    liveRates(status),
    h("h2", {}, "Servers"),
    status.servers.length === 0
      ? h("p", { class: "muted" }, "No MCP servers yet. Add one on the MCP servers page.")
      : h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Server"), h("th", {}, "State"), h("th", {}, "Protocol"), h("th", {}, "Tools"), h("th", {}, "In flight"))),
        h("tbody", {}, status.servers.map((s) => h("tr", {}, h("td", {}, s.name), h("td", {}, stateCell(s.state)), h("td", {}, s.protocolVersion || "—"), h("td", {}, s.tools), h("td", {}, s.inFlight))))),
    h("h2", {}, "Latest tool calls"),
    auditTable(calls.items));
}

// The stored arguments are JSON text: shown parsed, so a reader sees what the tool got rather than escapes.
function detailText(call) {
  let args = call.arguments;
  try { args = args === undefined || args === null ? args : JSON.parse(args); } catch { /* cut or not JSON: as stored */ }
  return JSON.stringify({ ...call, arguments: args }, null, 2);
}

function auditTable(items) {
  if (items.length === 0) return h("p", { class: "muted" }, "No tool calls recorded yet.");
  const detail = h("pre", { class: "log", hidden: true, "aria-live": "polite" });
  return h("div", {},
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Profile"), h("th", {}, "Tool"), h("th", {}, "Agent"), h("th", {}, "Decision"), h("th", {}, "Outcome"), h("th", {}, "ms"))),
      h("tbody", {}, items.map((c) => h("tr", {},
        h("td", {}, new Date(c.time).toLocaleString()),
        h("td", {}, c.profile),
        h("td", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); detail.hidden = false; detail.textContent = detailText(c); } }, `${c.server}__${c.tool}`)),
        h("td", {}, [c.agentId, c.agentSessionId].filter(Boolean).join(" / ")),
        h("td", {}, c.decision), h("td", {}, c.outcome), h("td", {}, c.durationMs))))),
    detail);
}

async function renderServers() {
  const [list, status] = await Promise.all([api("GET", "/api/mcp-servers"), api("GET", "/api/status")]);
  const live = new Map(status.servers.map((s) => [s.name, s]));
  const logs = h("section", { "aria-label": "server log" });
  const rows = list.items.map((s) => {
    const fileManaged = s.managedBy === "file";
    const cannotEdit = !state.writable || fileManaged;
    const why = !state.writable ? "read-only key" : fileManaged ? "defined in the configuration file" : undefined;
    return h("tr", { "data-server": s.name },
      h("td", {}, s.name),
      h("td", {}, stateCell(live.get(s.name)?.state || s.state)),
      h("td", {}, s.config.command ? [s.config.command, ...(s.config.args || [])].join(" ") : s.config.url),
      h("td", {}, s.managedBy),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => followLogs(s.name, logs) }, "Logs"),
        h("button", { type: "button", class: "secondary", disabled: !state.writable, title: state.writable ? undefined : "read-only key",
          onclick: async () => { await api("POST", `/api/mcp-servers/${encodeURIComponent(s.name)}/restart`); route(); } }, "Restart"),
        h("button", { type: "button", class: "secondary", disabled: cannotEdit, title: why,
          onclick: async () => {
            if (!confirm(`Delete the MCP server '${s.name}'?`)) return;
            try { await api("DELETE", `/api/mcp-servers/${encodeURIComponent(s.name)}`); route(); } catch (error) { logs.replaceChildren(errorBox(error)); }
          } }, "Delete"))));
  });
  show(
    h("h1", {}, "MCP servers"),
    rows.length === 0 ? h("p", { class: "muted" }, "No MCP servers yet.") :
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "State"), h("th", {}, "Command or URL"), h("th", {}, "Managed by"), h("th", {}, "Actions"))),
        h("tbody", {}, rows)),
    logs,
    state.writable ? serverForm() : h("p", { class: "notice" }, "This key is read-only: adding, restarting and deleting servers is disabled."));
}

function serverForm() {
  const fields = {
    name: h("input", { id: "f-name", name: "name", required: true, autocomplete: "off" }),
    kind: h("select", { id: "f-kind", name: "kind" }, h("option", { value: "stdio" }, "local process (stdio)"), h("option", { value: "remote" }, "remote (Streamable HTTP)")),
    command: h("input", { id: "f-command", name: "command", autocomplete: "off", placeholder: "npx" }),
    args: h("textarea", { id: "f-args", name: "args", rows: 3, placeholder: "one argument per line" }),
    url: h("input", { id: "f-url", name: "url", autocomplete: "off", placeholder: "https://mcp.example.com/mcp" }),
  };
  const { field, general, clear, place } = formErrors(fields);
  const stdioPart = h("div", { class: "stack" }, field("command", "Command"), field("args", "Arguments"));
  const remotePart = h("div", { class: "stack", hidden: true }, field("url", "URL"));
  fields.kind.addEventListener("change", () => {
    stdioPart.hidden = fields.kind.value !== "stdio";
    remotePart.hidden = fields.kind.value === "stdio";
  });
  const form = h("form", { class: "stack", "aria-label": "add an MCP server", onsubmit: async (e) => {
    e.preventDefault();
    clear();
    const body = { name: fields.name.value.trim() };
    if (fields.kind.value === "stdio") {
      body.command = fields.command.value.trim();
      body.args = fields.args.value.split("\n").map((a) => a.trim()).filter((a) => a.length > 0);
    } else {
      body.url = fields.url.value.trim();
    }
    try {
      await api("POST", "/api/mcp-servers", body);
      route();
    } catch (error) {
      place(error);
    }
  } },
  h("h2", {}, "Add an MCP server"), field("name", "Name"), h("label", { for: "f-kind" }, "Runs as", fields.kind), stdioPart, remotePart, general,
  h("div", {}, h("button", { type: "submit" }, "Add server")));
  return form;
}

let following = null;

// EventSource cannot send the Authorization header: read the SSE stream with fetch.
async function followLogs(name, target) {
  following?.abort();
  following = new AbortController();
  const pre = h("pre", { class: "log", "aria-live": "polite", "data-testid": "log" });
  target.replaceChildren(h("h2", {}, `Log of ${name}`), pre);
  try {
    const response = await fetch(`/api/mcp-servers/${encodeURIComponent(name)}/logs?lines=100&follow=true`, {
      headers: { Authorization: `Bearer ${state.key}` }, signal: following.signal,
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line.startsWith("data:")) pre.append(document.createTextNode(line.slice(line.startsWith("data: ") ? 6 : 5) + "\n"));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") target.append(errorBox(error));
  }
}

async function renderAudit(cursor) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = new URLSearchParams({ limit: "50", sort: "desc" });
  const keys = ["profile", "server", "tool", "outcome", "agentId", "agentSessionId"];
  for (const k of keys) if (params.get(k)) query.set(k, params.get(k));
  if (cursor) query.set("cursor", cursor);
  const page = await api("GET", `/api/audit/mcp-tool-calls?${query}`);
  const inputs = Object.fromEntries(keys.map((k) => [k, h("input", { id: `q-${k}`, name: k, value: params.get(k) || "" })]));
  const filters = h("form", { class: "row", "aria-label": "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, input] of Object.entries(inputs)) if (input.value.trim()) q.set(k, input.value.trim());
    location.hash = `#/audit?${q}`;
  } }, Object.entries(inputs).map(([k, input]) => h("label", { for: input.id }, k, input)), h("button", { type: "submit" }, "Filter"));
  show(h("h1", {}, "Audit: MCP tool calls"), filters, auditTable(page.items),
    page.nextCursor ? h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => renderAudit(page.nextCursor).catch((e) => main.append(errorBox(e))) }, "Older calls")) : null);
}

const pages = {
  overview: renderOverview,
  servers: renderServers,
  profiles: renderProfiles,
  policies: renderPolicies,
  audit: () => renderAudit(null),
  usage: renderUsage,
  llm: renderLlm,
  keys: renderKeys,
};

async function route() {
  following?.abort();
  if (!state.key) {
    renderSignIn();
    return;
  }
  const name = (location.hash.replace(/^#\//, "").split("?")[0]) || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  show(h("p", { class: "muted" }, "Loading…"));
  try {
    await (pages[name] || renderOverview)();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) show(errorBox(error));
  }
}

onUnauthorized(signOut);
document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
if (state.key) {
  detectScope().then(route, () => signOut("The stored key no longer works. Sign in again."));
} else {
  renderSignIn();
}
