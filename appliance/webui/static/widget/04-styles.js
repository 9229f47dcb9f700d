// ---- styles: the shadow root's one stylesheet -----------------------------------------
const CSS = `
:host { all: initial !important; }
[hidden] { display: none !important; }
* { box-sizing: border-box; }
.root { font: 14px/1.45 system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB",
  "Microsoft YaHei", "Segoe UI", Roboto, sans-serif; color: #1f2328; text-align: left;
  -webkit-text-size-adjust: 100%;
  /* the look (widget-look.js): colour, text on it, it as text, right, left, bottom */
  --a: #2563eb; --t: #fff; --i: #2563eb; --r: 20px; --l: auto; --y: 20px; }
button, textarea, input, select { font: inherit; color: inherit; margin: 0; letter-spacing: normal; }
button { cursor: pointer; }
button:disabled { cursor: default; opacity: .6; }
button:focus-visible, textarea:focus-visible, input:focus-visible, select:focus-visible {
  outline: 2px solid #93c5fd; outline-offset: 2px; }
.launcher { position: fixed; right: var(--r); left: var(--l); bottom: var(--y); z-index: 2147483000;
  width: 56px; height: 56px; padding: 0; border: 0; border-radius: 50%; background: var(--a); color: var(--t);
  box-shadow: 0 4px 14px rgba(0,0,0,.25); display: flex; align-items: center;
  justify-content: center; }
.launcher svg { width: 28px; height: 28px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px;
  padding: 0 6px; border-radius: 10px; background: #dc2626; color: #fff; font-size: 12px;
  line-height: 20px; text-align: center; }
.panel { position: fixed; right: var(--r); left: var(--l); bottom: calc(var(--y) + 68px);
  z-index: 2147483000; width: 360px; height: 560px; max-height: calc(100vh - 88px - var(--y)); display: flex; flex-direction: column;
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25);
  overflow: hidden; }
.head { display: flex; align-items: center; gap: 8px; padding: 10px 10px 10px 16px;
  background: var(--a); color: var(--t); }
.title { flex: 1; min-width: 0; font-size: 16px; font-weight: 600; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.head button { border: 0; border-radius: 6px; padding: 4px 10px; font-size: 13px;
  background: rgba(255,255,255,.18); color: inherit; }
.status { padding: 6px 16px; font-size: 12px; color: #57606a; background: #f6f8fa;
  border-bottom: 1px solid #eaeef2; }
.status[data-state="reconnecting"] { color: #9a6700; background: #fff8c5; }
.messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;
  gap: 8px; overscroll-behavior: contain; }
.msg { max-width: 80%; display: flex; flex-direction: column; align-items: flex-start; }
.msg .who { font-size: 11px; color: #57606a; margin-bottom: 2px; }
.msg .body { padding: 8px 12px; border-radius: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; background: #f0f2f5; border-bottom-left-radius: 4px; }
.msg .meta { font-size: 11px; color: #8c959f; margin-top: 2px; }
.msg.visitor { align-self: flex-end; align-items: flex-end; }
.msg.visitor .body { background: var(--a); color: var(--t); border-radius: 12px;
  border-bottom-right-radius: 4px; }
.msg.system { align-self: center; max-width: 90%; align-items: center; }
.msg.system .body { background: none; padding: 0; font-size: 12px; color: #57606a; }
.msg[data-pending] .body { opacity: .6; }
.msg.visitor[data-read] .meta::after { content: " · " attr(data-read); }
.msg[data-failed] .body { background: #fee2e2; color: #991b1b; }
.msg[data-failed] .meta { color: #b91c1c; }
.typing { padding: 0 16px 4px; font-size: 12px; color: #57606a; font-style: italic; }
.notice { margin: 0 12px 6px; padding: 6px 10px; border-radius: 6px; background: #fef3c7;
  color: #92400e; font-size: 12px; }
.newchat { margin: 0 12px 8px; padding: 8px; border: 1px solid var(--i); border-radius: 8px;
  background: #fff; color: var(--i); }
.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px;
  border-top: 1px solid #eaeef2; }
.composer textarea { flex: 1; resize: none; min-height: 38px; max-height: 120px;
  padding: 8px 10px; border: 1px solid #d0d7de; border-radius: 8px; background: #fff;
  line-height: 20px; font-size: 14px; }
.composer textarea:focus { border-color: var(--a); outline: none; }
.send { height: 38px; padding: 0 14px; border: 0; border-radius: 8px; background: var(--a);
  color: var(--t); }
.tool { height: 38px; padding: 0; border: 0; background: none; font-size: 20px; } /* 10a-files.js */
.queue { padding: 6px 16px; font-size: 13px; color: #1e40af; background: #eff6ff;
  border-bottom: 1px solid #dbeafe; }
.field { display: flex; flex-direction: column; gap: 2px; flex: 1; min-width: 0;
  font-size: 12px; color: #57606a; }
.field input, .field select, .field textarea { width: 100%; padding: 6px 8px; font-size: 14px;
  border: 1px solid #d0d7de; border-radius: 6px; background: #fff; color: #1f2328; }
.field textarea { resize: vertical; min-height: 72px; }
.prechat { display: flex; flex-wrap: wrap; gap: 8px; padding: 8px 12px 0;
  border-top: 1px solid #eaeef2; }
.prechat .field { flex: 1 1 140px; }
.prechat .err { flex: 1 0 100%; }
.prechat + .composer { border-top: 0; }
.overflow { flex-shrink: 0; max-height: 70%; overflow-y: auto; margin: 0 12px 8px;
  padding: 10px 12px; border: 1px solid #d0d7de; border-radius: 8px; background: #f6f8fa;
  display: flex; flex-direction: column; gap: 8px; }
.overflow p { margin: 0; }
.overflow form { display: flex; flex-direction: column; gap: 8px; margin: 0; }
.choices, .actions { display: flex; flex-wrap: wrap; gap: 6px; }
.actions { justify-content: flex-end; }
.choices button, .actions button { padding: 6px 12px; border: 1px solid var(--i);
  border-radius: 6px; background: #fff; color: var(--i); }
.choices button.primary, .actions button.primary { background: var(--a); color: var(--t);
  border-color: var(--a); }
.err { padding: 6px 10px; border-radius: 6px; background: #fee2e2; color: #991b1b; font-size: 12px; }
.done { margin: 0 12px 8px; padding: 10px 12px; border-radius: 8px; background: #dcfce7;
  color: #166534; }
.invite { position: fixed; right: var(--r); left: var(--l); bottom: calc(var(--y) + 68px); z-index: 2147483000; width: 300px;
  max-width: calc(100vw - 40px); padding: 14px 16px 12px; background: #fff; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; gap: 10px; }
.invite .summary { display: flex; flex-direction: column; gap: 8px; }
.invite .who { display: flex; align-items: center; gap: 10px; }
.invite .avatar { flex: none; width: 36px; height: 36px; border-radius: 50%; background: var(--a);
  color: var(--t); font-weight: 600; display: flex; align-items: center; justify-content: center; }
.invite .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.invite .role { font-size: 12px; color: #57606a; }
.invite .text { margin: 0; max-height: 9.5em; overflow-y: auto; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.invite .actions button { padding: 8px 14px; }
.panel[data-screen="desk"] > :not(.head):not(.desk), .panel[data-screen="desk"] [data-cb="desk-open"] {
  display: none !important; }
[tabindex="-1"]:focus { outline: none; } /* headings focused for screen readers */
.desk { flex: 1; min-height: 0; display: flex; flex-direction: column; }
.bar { display: flex; align-items: center; gap: 4px; padding: 6px 8px 6px 16px;
  border-bottom: 1px solid #eaeef2; }
.desk h2, .desk h3 { flex: 1; margin: 0; font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.back { padding: 4px 8px; border: 0; border-radius: 6px; background: none; color: var(--i); }
.scroll { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px;
  overscroll-behavior: contain; }
.tk-list { margin: 0; padding: 0; list-style: none; display: flex; flex-direction: column; gap: 8px; }
.tk-row { width: 100%; display: flex; flex-direction: column; gap: 2px; padding: 8px 10px;
  border: 1px solid #d0d7de; border-radius: 8px; background: #fff; text-align: left; }
.tk-row:hover { border-color: var(--a); }
.tk-top { display: flex; justify-content: space-between; gap: 8px; }
.tk-top, .tk-when, .tk-note { font-size: 12px; color: #57606a; }
.tk-subj { font-weight: 600; overflow-wrap: anywhere; }
.tk-st { font-size: 12px; color: #1e40af; }
.tk-st[data-state="pending"] { color: #9a6700; }
.tk-st[data-state="resolved"] { color: #166534; }
.tk-st[data-state="closed"], .tk-st[data-state="merged"] { color: #57606a; }
.tk-view, .tk-thread, .tk-reply, .box { display: flex; flex-direction: column; gap: 8px; margin: 0; }
.tk-view .msg { max-width: 85%; }
.box { padding: 10px 12px; border: 1px solid #d0d7de; border-radius: 8px; background: #f6f8fa; }
.box p, .tk-note { margin: 0; }
.box fieldset { margin: 0; padding: 0; border: 0; }
.box legend { padding: 0; margin-bottom: 6px; }
.stars { display: flex; flex-wrap: wrap; gap: 6px; }
.stars label { display: flex; align-items: center; gap: 4px; padding: 4px 10px;
  border: 1px solid #d0d7de; border-radius: 6px; background: #fff; }
@media (max-width: 480px) {
  .panel { top: 0; right: 0; bottom: 0; left: 0; width: 100%; height: 100%;
    max-height: none; border-radius: 0; }
  .root.open .launcher { display: none; }
  .composer textarea, .field input, .field select, .field textarea {
    font-size: 16px; } /* iOS zooms into inputs under 16px */
  .tk-row, .back, .stars label, .actions button { min-height: 44px; } /* a thumb-sized target */
  .invite { left: 12px; right: 12px; bottom: calc(var(--y) + 68px); width: auto; max-width: none; }
  .invite .actions button { min-height: 44px; flex: 1; } /* a thumb-sized target */
  .head button { min-height: 44px; }
  /* End chat and × apart: a thumb aiming to minimise must not end the chat. */
  .head [data-cb="minimize"] { margin-left: 20px; min-width: 44px; }
}`;
