/* Callbox visitor chat widget.
 *
 * A company embeds it with one tag:
 *   <script src="https://BOX/widget.js" async data-lang="en" data-site="shop"></script>
 * The protocol it speaks is docs/api.md. The UI lives in a shadow root (closed unless
 * data-shadow="open", which tests use) so the host page's CSS cannot reach it, and the
 * whole script is one closure: nothing is left on window (history.pushState and
 * replaceState are wrapped, not replaced, to see single-page navigations).
 *
 * The parts in this folder are joined in file-name order at start (assets.widget_script)
 * inside that one closure and served as /widget.js: one request, no build step. They
 * share its scope, so a part may use what any other declares (functions are hoisted;
 * a const must be declared in an earlier part before it is read at load time).
 * Parts: config, strings, state, styles, DOM, rendering, transport (HTTP, WebSocket),
 * pre-chat, queue and overflow, composer, tracking, invitation, my requests (tickets), start.
 */

// Timing and limits, at the top so tests and integrators can find them.
const BACKOFF_START = 500; // ms, first reconnect delay (doubles per failed attempt)
const BACKOFF_CAP = 10000; // ms, longest reconnect delay
const HEARTBEAT = 25000; // ms between pings; one still unanswered at the next tick = dead socket
const TYPING_THROTTLE = 2000; // ms, the protocol allows one typing frame per 2 s
const TYPING_IDLE = 3000; // ms without input before we tell the agent typing stopped
const AGENT_TYPING_TTL = 6000; // ms; hide the agent's indicator if its "stopped" frame is lost
const NOTICE_TTL = 6000; // ms an error notice stays up
const CONFIRM_TTL = 4000; // ms the "end chat?" confirmation waits for the second click
const MAX_BODY = 4096; // bytes of UTF-8; the server refuses larger bodies
const SPA_SETTLE = 300; // ms after a history change before its page view is sent (title updates)
const TICKET_REPLY_MAX = 4000; // characters of a reply on a ticket (the box takes up to 20,000)
const RATING_COMMENT_MAX = 1000; // characters of a rating's comment, the box's limit

const K_VISITOR = "callbox.visitor"; // JSON {visitor_id, token}
const K_CONV = "callbox.conversation"; // plain conversation id
const K_SEQ = "callbox.seq"; // JSON {conversation_id: highest seq the visitor has seen}
const K_OUTBOX = "callbox.outbox"; // JSON [{client_msg_id, conversation_id, body}]

// async scripts have document.currentScript too, but a loader may have run us later.
const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
if (!script || document.querySelector("callbox-widget")) return; // pasted twice: one widget
const BASE = new URL(script.src, location.href).origin;
const WS_URL = BASE.replace(/^http/, "ws") + "/api/visitor/ws";
const SHADOW_MODE = script.getAttribute("data-shadow") === "open" ? "open" : "closed";
const SITE = script.getAttribute("data-site") || "default";
const TRACK = script.getAttribute("data-track") !== "off";
