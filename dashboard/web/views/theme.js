// ThemeSwitch (theme.py): a button to the other theme. The choice goes into a cookie (the server
// builds the next page in it) and localStorage, and the page reloads without any ?theme= in its
// address (that would override the choice). The `t` shortcut sends a "ts-toggle-theme" event.

export function render({ model, el }) {
  const other = model.theme === "dark" ? "light" : "dark";
  const button = document.createElement("button");
  button.className = "ts-theme-switch";
  button.textContent = other === "dark" ? "☾ Dark" : "☀ Light";
  button.title = `Switch to the ${other} theme (t)`;
  function toggle() {
    document.cookie = `${model.cookie}=${other}; path=/; max-age=31536000; SameSite=Lax`;
    try { localStorage.setItem(model.cookie, other); } catch (e) { /* private mode: the cookie suffices */ }
    const url = new URL(window.location.href);
    url.searchParams.delete("theme");
    window.location.replace(url.toString());
  }
  button.addEventListener("click", toggle);
  document.addEventListener("ts-toggle-theme", toggle);
  el.appendChild(button);
}
