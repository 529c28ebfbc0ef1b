// ClockFace (clock.py): the time in the page's zone, ticking here (no message per tick), and the
// user's choice of zone kept in localStorage: read when the face renders (and told to Python with
// the browser's own zone), written whenever the choice changes.

const KEY = "tickstock.clock";

function kept() {
  try { return window.localStorage.getItem(KEY); } catch (e) { return null; }   // storage may be off
}

function keep(choice) {
  try { window.localStorage.setItem(KEY, choice); } catch (e) { /* storage off: the choice lasts this page */ }
}

export function render({ model, el }) {
  const face = document.createElement("span");
  face.className = "ts-clock";
  el.appendChild(face);
  model.browser_zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const saved = kept();
  if (saved && model.choices.includes(saved) && saved !== model.choice) model.choice = saved;

  let short, full;
  function formats() {
    short = new Intl.DateTimeFormat("en-GB", {timeZone: model.zone, hour: "2-digit", minute: "2-digit",
                                              second: "2-digit", hourCycle: "h23"});
    full = new Intl.DateTimeFormat("en-GB", {timeZone: model.zone, dateStyle: "full", timeStyle: "long"});
  }
  function tick() {
    const at = new Date(Date.now() + model.offset_ms);
    face.textContent = short.format(at) + " " + model.label;
    face.title = full.format(at) + " (" + model.zone + ")";
    face.dataset.zone = model.zone;
  }
  let timer = null;
  function loop() {               // on each second's turn, so the face never lags a second behind
    tick();
    timer = setTimeout(loop, 1000 - (Date.now() + model.offset_ms) % 1000);
  }
  formats();
  loop();
  model.on("zone", () => { formats(); tick(); });
  model.on("label", tick);
  model.on("choice", () => keep(model.choice));
  model.on("remove", () => clearTimeout(timer));
}
