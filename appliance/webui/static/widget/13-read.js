// ---- read state, sneak peek, minimised notice, rating (docs/agent-guide.md) ----
const PEEK_EVERY = 300; // ms between peeks (the box relays 4 a second)

let readSent = 0, agentRead = 0, readTimer = 0, peekOn = false, peekSent = "", peekTimer = 0;
let flashTimer = 0, pageTitle = "", shown = "", audio = null, ratingP = null;

function sendRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (lastSeq > readSent && joinedId === convId &&
      sendFrame({ type: "read", conversation_id: convId, seq: lastSeq })) readSent = lastSeq;
  }, 150);
}

function onRead(f) {
  if (f.conversation_id === convId && f.reader === "agent") {
    agentRead = Math.max(agentRead, f.seq);
    list.querySelectorAll(".visitor[data-seq]").forEach((el) => {
      if (+el.getAttribute("data-seq") <= agentRead) el.setAttribute("data-read", t("read"));
    });
  }
}

function peekSoon() {
  if (peekOn && !peekTimer) peekTimer = setTimeout(() => {
    peekTimer = 0;
    const text = Array.from(input.value.replace(/\0/g, "")).slice(0, 200).join("");
    if (text !== peekSent && joinedId === convId &&
      sendFrame({ type: "peek", conversation_id: convId, text })) peekSent = text;
  }, PEEK_EVERY);
}

// Unseen: a beep for the first (once the page had a gesture), the title flashing.
function alertVisitor() {
  try {
    if (unread === 1 && (navigator.userActivation || {}).hasBeenActive !== false) {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const o = audio.createOscillator();
      o.connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + 0.15);
    }
  } catch (e) { /* no sound */ }
  if (!flashTimer) {
    shown = pageTitle = document.title;
    flashTimer = setInterval(() => {
      if (document.title !== shown) pageTitle = document.title; // the site changed it
      document.title = shown = shown === pageTitle ? t("unread", { n: unread }) : pageTitle;
    }, 1000);
  }
}

function stopFlash() {
  if (flashTimer) document.title = pageTitle;
  clearInterval(flashTimer);
  flashTimer = 0;
}

function offerRating() { // later/rating.js hands its form over by an event
  const id = convId;
  ratingP = ratingP || new Promise((ok) => {
    document.addEventListener("callbox:rating", (e) => ok(e.detail), { once: true });
    document.head.appendChild(h("script", { src: BASE + "/api/visitor/assets/rating.js" }));
  });
  ratingP.then((part) => { // after the transcript: cleared with it
    if (id === convId && isClosed()) {
      keepBottom(() => list.appendChild(part({ h, t, api, field, errLine, say, keepBottom, ensureSession, id, CATALOG })));
    }
  });
}

window.addEventListener("focus", stopFlash);
