// Shared by the console's pages: element building (text only: values from the server are attacker-controlled),
// the admin API client with the key from sessionStorage, and the API's field errors placed next to their fields.
export const KEY = "archestra.adminKey";
export const main = document.getElementById("main");
export const state = { key: sessionStorage.getItem(KEY), writable: false, name: "" };

let unauthorized = () => {};

/** What a 401 does (the sign-in page sets it: the key is dropped and the user asked again). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function show(...nodes) {
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  main.focus();
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `the admin API answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    unauthorized("The admin key was refused (401). Sign in again.");
    throw new ApiError(401, null);
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error));
}

export function stateCell(s) {
  return h("span", { class: `state-${s || "unknown"}` }, s || "unknown");
}

export const enc = encodeURIComponent;

/**
 * A form's fields with an error line under each: field(key, label) gives the labelled input, place(error) puts the
 * API's {path, message} errors under the field the path names ($.key or $.key[...]) and the rest in the general box.
 */
export function formErrors(fields, prefix = "") {
  const errors = {};
  const general = h("div", { role: "alert" });
  const field = (key, label) => {
    errors[key] = h("span", { class: "field-error", id: `e-${prefix}${key}`, role: "alert" });
    fields[key].setAttribute("aria-describedby", `e-${prefix}${key}`);
    // The error sits outside the label, so it describes the field without becoming part of its name.
    return h("div", { class: "field" }, h("label", { for: fields[key].id }, label, fields[key]), errors[key]);
  };
  const clear = () => {
    for (const span of Object.values(errors)) span.textContent = "";
    general.replaceChildren();
  };
  const place = (error, nameOf = (path) => /^\$\.([A-Za-z]+)/.exec(path)?.[1]) => {
    const unplaced = [];
    for (const problem of error.problem?.errors || []) {
      const key = nameOf(problem.path);
      if (key === null) continue; // placed by nameOf itself
      if (key && errors[key]) errors[key].textContent = errors[key].textContent ? `${errors[key].textContent}; ${problem.message}` : problem.message;
      else unplaced.push(`${problem.path}: ${problem.message}`);
    }
    if (!error.problem?.errors || unplaced.length) general.replaceChildren(errorBox(unplaced.length ? unplaced.join("; ") : error));
  };
  return { field, general, clear, place, errors };
}

/** A button that is disabled, with the reason as its title, for a read-only key or a file-managed resource. */
export function editButton(label, fileManaged, onclick, attrs = {}) {
  const why = !state.writable ? "read-only key" : fileManaged ? "defined in the configuration file" : undefined;
  return h("button", { type: "button", class: "secondary", disabled: Boolean(why), title: why, onclick, ...attrs }, label);
}

export function table(headings, rows, empty) {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}
