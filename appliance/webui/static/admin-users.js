// Users and roles on the admin page (templates/admin_users.html): list, add, change
// role, reset the password, disable and enable, end sessions, reset two-factor login,
// and the roles that must log in with a code. Through /api/admin/users; every name
// goes in as text. A temporary password is shown once and dropped from the page after.
import { api } from "./console-base.js";
import { T, fmt } from "./console-i18n.js";

const ROLES = ["agent", "supervisor", "admin"];
const ROLE_TEXT = { agent: "usrRoleAgent", supervisor: "usrRoleSupervisor", admin: "usrRoleAdmin" };
// Refusals the admin can act on, in the page's language; others show the server's words.
const REFUSED = {
  last_admin: "usrLastAdmin",
  own_account: "usrOwnAccount",
  rate_limited: "usrRateLimited",
};

(() => {
  const root = document.querySelector('[data-cb="users"]');
  if (!root) return;
  const $ = (name, scope = root) => scope.querySelector(`[data-cb="${name}"]`);
  const list = $("user-list");
  const roleText = (role) => T[ROLE_TEXT[role]];
  // The admin's own row offers nothing that could lock them out (the server refuses
  // it anyway): another admin, or the shell on the box, changes their role or access.
  const me = Number(root.dataset.me);

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function say(err, text) {
    const error = $("users-error");
    const key = err && REFUSED[err.code];
    error.textContent = err ? fmt("usrFailed", { message: key ? T[key] : err.message }) : "";
    error.hidden = !err;
    $("users-result").textContent = err ? "" : text || "";
  }

  // The box sends its own local time with an offset; show its wall-clock part as is.
  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : T.usrNever;
  }

  function showPassword(user, password) {
    $("temp-password-who").textContent = fmt("usrTempFor", { name: user.username });
    $("temp-password-value").textContent = password;
    $("temp-password").hidden = false;
  }

  $("temp-password-hide").addEventListener("click", () => {
    $("temp-password-value").textContent = "";
    $("temp-password").hidden = true;
  });

  function roleSelect(selected) {
    const select = el("select");
    for (const role of ROLES) {
      const option = el("option", roleText(role));
      option.value = role;
      option.selected = role === selected;
      select.append(option);
    }
    return select;
  }

  function action(name, text, cls = "secondary") {
    const b = el("button", text, cls);
    b.type = "button";
    b.dataset.cb = name;
    return b;
  }

  function row(user) {
    const tr = el("tr");
    tr.dataset.user = String(user.id);
    tr.dataset.username = user.username;
    if (user.disabled) tr.classList.add("disabled-user");
    const name = el("td", user.username);
    if (user.dispatcher) name.append(" ", el("span", T.usrDispatcher, "tag"));
    const own = user.id === me;
    const role = roleSelect(user.role);
    role.dataset.cb = "role";
    role.setAttribute("aria-label", fmt("usrRoleOf", { name: user.username }));
    role.disabled = own;
    if (own) role.title = T.usrOwnAccount;
    const roleCell = el("td");
    roleCell.append(role);
    const access = el("td", user.disabled ? T.usrDisabled : T.usrEnabled);
    access.dataset.cb = "access";
    if (user.must_change_password) access.append(el("div", T.usrMustChange, "muted"));
    const tf = el("td", user.two_factor ? T.usrTfOn : T.usrTfOff);
    tf.dataset.cb = "two-factor";
    const last = el("td", when(user.last_login_at));
    if (user.sessions) last.append(el("div", fmt("usrSessions", { n: user.sessions }), "muted"));
    const actions = el("div", null, "user-actions");
    if (!own) {
      actions.append(
        action("reset-password", T.usrResetPassword),
        user.disabled ? action("enable", T.usrEnable) : action("disable", T.usrDisable, "danger"),
      );
    }
    actions.append(action("end-sessions", T.usrEndSessions));
    if (user.two_factor) actions.append(action("reset-two-factor", T.usrResetTf));
    const actionCell = el("td");
    actionCell.append(actions);
    tr.append(name, el("td", user.display_name), roleCell, access, tf, last, actionCell);
    return tr;
  }

  function render(users) {
    list.replaceChildren(...users.map(row));
  }

  function replaceRow(user) {
    const old = list.querySelector(`tr[data-user="${user.id}"]`);
    if (old) old.replaceWith(row(user));
    else list.append(row(user));
  }

  function renderRoles(required) {
    const box = $("tf-roles");
    box.replaceChildren();
    for (const role of ROLES) {
      const label = el("label", null, "check");
      const input = el("input");
      input.type = "checkbox";
      input.value = role;
      input.checked = required.includes(role);
      input.dataset.cb = `tf-role-${role}`;
      label.append(input, " ", roleText(role));
      box.append(label);
    }
  }

  async function load() {
    try {
      const data = await api("GET", "/api/admin/users");
      render(data.users);
      renderRoles(data.two_factor_roles);
    } catch (err) {
      say(err);
    }
  }

  const path = (tr, tail) => `/api/admin/users/${encodeURIComponent(tr.dataset.user)}${tail}`;

  list.addEventListener("change", async (event) => {
    const select = event.target.closest('select[data-cb="role"]');
    if (!select) return;
    const tr = select.closest("tr[data-user]");
    try {
      const data = await api("PUT", path(tr, "/role"), { role: select.value });
      replaceRow(data.user);
      say(null, fmt("usrRoleChanged", { name: data.user.username, role: roleText(data.user.role) }));
    } catch (err) {
      say(err);
      await load(); // the select shows the role the user still has
    }
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-cb]");
    const tr = button && button.closest("tr[data-user]");
    if (!tr) return;
    const name = tr.dataset.username;
    const kind = button.dataset.cb;
    const confirmKey = {
      "reset-password": "usrConfirmReset",
      disable: "usrConfirmDisable",
      "end-sessions": "usrConfirmEnd",
      "reset-two-factor": "usrConfirmTf",
    }[kind];
    if (confirmKey && !window.confirm(fmt(confirmKey, { name }))) return;
    button.disabled = true;
    try {
      if (kind === "reset-password") {
        const data = await api("POST", path(tr, "/password"));
        replaceRow(data.user);
        showPassword(data.user, data.temporary_password);
        say(null, fmt("usrPasswordReset", { name }));
      } else if (kind === "disable" || kind === "enable") {
        const data = await api("POST", path(tr, `/${kind}`));
        replaceRow(data.user);
        say(null, fmt(kind === "disable" ? "usrDisabledOk" : "usrEnabledOk", { name }));
      } else if (kind === "end-sessions") {
        const data = await api("DELETE", path(tr, "/sessions"));
        replaceRow(data.user);
        say(null, fmt("usrSessionsEnded", { name, n: data.ended }));
      } else if (kind === "reset-two-factor") {
        const data = await api("DELETE", path(tr, "/two-factor"));
        replaceRow(data.user);
        say(null, fmt("usrTfResetOk", { name }));
      }
    } catch (err) {
      say(err);
      button.disabled = false;
    }
  });

  const roleChoice = $("user-role");
  for (const role of ROLES) {
    const option = el("option", roleText(role));
    option.value = role;
    roleChoice.append(option);
  }

  $("user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/api/admin/users", {
        username: $("user-name").value.trim(),
        display_name: $("user-display").value.trim(),
        role: roleChoice.value,
      });
      replaceRow(data.user);
      showPassword(data.user, data.temporary_password);
      $("user-form").reset();
      say(null, fmt("usrAdded", { name: data.user.username }));
    } catch (err) {
      say(err);
    }
  });

  $("tf-roles-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const roles = ROLES.filter((role) => $(`tf-role-${role}`).checked);
    try {
      const data = await api("PUT", "/api/admin/two-factor", { roles });
      renderRoles(data.roles);
      $("tf-roles-result").textContent = T.usrSaved;
      say(null, "");
    } catch (err) {
      $("tf-roles-result").textContent = "";
      say(err);
    }
  });

  load();
})();
