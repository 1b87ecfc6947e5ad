// Profiles, their tokens (shown once, at creation) and the tool settings of each profile's discovered tools.
import { state, h, show, api, errorBox, enc, formErrors, editButton, table } from "./core.js";

const TREATMENTS = ["untrusted", "trusted", "sanitize_with_dual_llm"];

export async function renderProfiles() {
  const [profiles, servers, tokens] = await Promise.all([api("GET", "/api/profiles"), api("GET", "/api/mcp-servers"), api("GET", "/api/tokens")]);
  const message = h("div", { "aria-live": "polite" });
  const tools = h("section", { "aria-label": "tools of a profile" });
  const rows = profiles.items.map((p) =>
    h("tr", { "data-profile": p.name },
      h("td", {}, p.name, p.description ? h("div", { class: "muted" }, p.description) : null),
      h("td", {}, (p.servers || []).join(", ") || "—"),
      h("td", {}, p.tokens === 0 ? "none (open)" : p.tokens),
      h("td", {}, h("code", {}, p.endpoint)),
      h("td", {}, p.managedBy),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => renderTools(p, tools) }, "Tools"),
        editButton("Delete", p.managedBy === "file", async () => {
          if (!confirm(`Delete the profile '${p.name}' and its tokens?`)) return;
          try { await api("DELETE", `/api/profiles/${enc(p.name)}`); renderProfiles(); } catch (error) { message.replaceChildren(errorBox(error)); }
        })))));
  show(
    h("h1", {}, "Profiles"),
    h("p", { class: "muted" }, "A profile is one MCP endpoint: the servers it exposes, its tokens and its tool settings."),
    table(["Name", "Servers", "Tokens", "Endpoint", "Managed by", "Actions"], rows, "No profiles yet."),
    message,
    tools,
    state.writable ? profileForm(servers.items) : h("p", { class: "notice" }, "This key is read-only: creating and deleting profiles is disabled."),
    h("h2", {}, "Tokens"),
    tokenSection(tokens.items, profiles.items));
}

function profileForm(servers) {
  const fields = {
    name: h("input", { id: "p-name", name: "name", required: true, autocomplete: "off" }),
    description: h("input", { id: "p-description", name: "description", autocomplete: "off" }),
    toolPrefix: h("select", { id: "p-toolPrefix", name: "toolPrefix" },
      h("option", { value: "multiplex" }, "only when two servers share a tool name"),
      h("option", { value: "always" }, "always {server}__{tool}")),
  };
  const { field, general, clear, place, errors } = formErrors(fields);
  errors.servers = h("span", { class: "field-error", id: "e-servers", role: "alert" });
  const boxes = servers.map((s) => h("input", { type: "checkbox", id: `p-server-${s.name}`, value: s.name }));
  const form = h("form", { class: "stack", "aria-label": "create a profile", onsubmit: async (e) => {
    e.preventDefault();
    clear();
    const body = {
      name: fields.name.value.trim(),
      servers: boxes.filter((b) => b.checked).map((b) => b.value),
      toolPrefix: fields.toolPrefix.value,
    };
    if (fields.description.value.trim()) body.description = fields.description.value.trim();
    try {
      await api("POST", "/api/profiles", body);
      renderProfiles();
    } catch (error) {
      place(error);
    }
  } },
  h("h2", {}, "Create a profile"),
  field("name", "Name"),
  field("description", "Description"),
  h("fieldset", { "aria-describedby": "e-servers" }, h("legend", {}, "Servers"),
    servers.length === 0 ? h("p", { class: "muted" }, "No MCP servers yet: add one first.") : null,
    servers.map((s, i) => h("label", { for: boxes[i].id, class: "check" }, boxes[i], s.name)),
    errors.servers),
  field("toolPrefix", "Tool names"),
  general,
  h("div", {}, h("button", { type: "submit" }, "Create profile")));
  return form;
}

function tokenSection(tokens, profiles) {
  const shown = h("div", { "aria-live": "polite" });
  const rows = tokens.map((t) =>
    h("tr", { "data-token": t.name },
      h("td", {}, t.name), h("td", {}, t.profile), h("td", {}, t.managedBy),
      h("td", {}, t.createdAt ? new Date(t.createdAt).toLocaleString() : "—"),
      h("td", {}, t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : "never"),
      h("td", {}, editButton("Revoke", t.managedBy === "file", async () => {
        if (!confirm(`Revoke the token '${t.name}'? Clients using it are refused at once.`)) return;
        try { await api("DELETE", `/api/tokens/${enc(t.name)}`); renderProfiles(); } catch (error) { shown.replaceChildren(errorBox(error)); }
      }))));
  const apiProfiles = profiles.filter((p) => p.managedBy === "api");
  const fields = {
    name: h("input", { id: "t-name", name: "name", required: true, autocomplete: "off" }),
    profile: h("select", { id: "t-profile", name: "profile" }, apiProfiles.map((p) => h("option", { value: p.name }, p.name))),
  };
  const { field, general, clear, place } = formErrors(fields);
  const form = state.writable && apiProfiles.length > 0
    ? h("form", { class: "row", "aria-label": "create a token", onsubmit: async (e) => {
      e.preventDefault();
      clear();
      try {
        const created = await api("POST", "/api/tokens", { name: fields.name.value.trim(), profile: fields.profile.value });
        const value = h("output", { id: "new-token", "data-testid": "new-token" }, created.token);
        shown.replaceChildren(h("div", { class: "notice", role: "status" },
          h("p", {}, `Token '${created.name}' for profile '${created.profile}'. Copy it now: it is shown only this once.`), h("code", {}, value)));
        fields.name.value = "";
      } catch (error) {
        place(error);
      }
    } }, field("name", "Token name"), field("profile", "Profile"), h("button", { type: "submit" }, "Create token"), general)
    : h("p", { class: "muted" }, state.writable ? "Tokens belong to API-managed profiles: create a profile first." : "");
  return h("div", {}, table(["Name", "Profile", "Managed by", "Created", "Last used", ""], rows, "No tokens: profiles without tokens are open."), shown, form);
}

async function renderTools(profile, target) {
  target.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    const tools = await api("GET", `/api/tools?profile=${enc(profile.name)}`);
    const editable = state.writable && profile.managedBy === "api";
    const rows = tools.items.map((t) => {
      const choice = h("select", { "aria-label": `result treatment of ${t.name}`, disabled: !editable },
        TREATMENTS.map((v) => h("option", { value: v, selected: v === t.settings.resultTreatment }, v)));
      const note = h("span", { class: "field-error", role: "alert" });
      choice.addEventListener("change", async () => {
        note.textContent = "";
        try {
          await api("PUT", `/api/tools/${enc(profile.name)}/${enc(`${t.server}__${t.tool}`)}`, {
            resultTreatment: choice.value,
            allowUsageWhenUntrustedDataIsPresent: t.settings.allowUsageWhenUntrustedDataIsPresent,
          });
          renderTools(profile, target);
        } catch (error) {
          note.textContent = error.message;
        }
      });
      return h("tr", { "data-tool": t.name },
        h("td", {}, t.name), h("td", { class: "description" }, t.description || ""),
        h("td", {}, choice, note),
        h("td", {}, t.settings.allowUsageWhenUntrustedDataIsPresent ? "yes" : "no"),
        h("td", {}, t.settingsFrom || "defaults"),
        h("td", {}, t.online ? "yes" : "no (as last listed)"));
    });
    target.replaceChildren(h("h2", {}, `Tools of ${profile.name}`),
      editable ? null : h("p", { class: "muted" }, profile.managedBy === "file" ? "Defined in the configuration file: edit the file to change these." : "Read-only key."),
      table(["Tool", "Description", "Result treatment", "Usable when untrusted", "Setting from", "Online"], rows, "No tools discovered for this profile yet."));
  } catch (error) {
    target.replaceChildren(errorBox(error));
  }
}
