// The recurrence rules (RFC 5545 RRULE) the recurring-task builder writes and reads
// back: daily, weekly on chosen weekdays, or monthly on a day (-1: the last), at a
// time, every n days, weeks or months. Any other rule is "custom": typed as is, and
// checked by the box (core/recurrence.py), which alone says what a rule may be.

const FREQ_OF = { daily: "DAILY", weekly: "WEEKLY", monthly: "MONTHLY" };
const BUILT_OF = { DAILY: "daily", WEEKLY: "weekly", MONTHLY: "monthly" };
const INTERVAL_MAX = 1000; // as core/recurrence.py takes it

const pad = (n) => String(n).padStart(2, "0");

/** A whole number in [low, high] from its text, else null. */
function whole(text, low, high) {
  if (!/^-?\d{1,4}$/.test(text || "")) return null;
  const n = Number(text);
  return n >= low && n <= high ? n : null;
}

/**
 * The rule of a builder choice {freq, interval, days: ["MO", ...], monthDay, time: "HH:MM"}.
 * The weekdays go in the order given (the page gives the week's).
 */
export function ruleOf(spec) {
  const [h, m] = spec.time.split(":").map(Number);
  const parts = [`FREQ=${FREQ_OF[spec.freq]}`];
  if (spec.interval > 1) parts.push(`INTERVAL=${spec.interval}`);
  if (spec.freq === "weekly") parts.push(`BYDAY=${spec.days.join(",")}`);
  if (spec.freq === "monthly") parts.push(`BYMONTHDAY=${spec.monthDay}`);
  parts.push(`BYHOUR=${h}`, `BYMINUTE=${m}`);
  return parts.join(";");
}

/**
 * The builder choice a rule is, or null when the builder cannot show it. `weekdays`
 * are the codes in the week's order (MO ... SU).
 */
export function specOf(rule, weekdays) {
  const text = String(rule || "").trim().replace(/^RRULE:/i, "").toUpperCase();
  const parts = {};
  for (const item of text.split(";")) {
    if (!item) continue;
    const [key, value, ...rest] = item.split("=");
    if (value === undefined || rest.length || key in parts) return null;
    parts[key] = value;
  }
  const freq = BUILT_OF[parts.FREQ];
  if (!freq) return null;
  const allowed = new Set(["FREQ", "INTERVAL", "BYHOUR", "BYMINUTE"]);
  if (freq === "weekly") allowed.add("BYDAY");
  if (freq === "monthly") allowed.add("BYMONTHDAY");
  if (Object.keys(parts).some((k) => !allowed.has(k))) return null;
  const hour = whole(parts.BYHOUR, 0, 23);
  const minute = whole(parts.BYMINUTE, 0, 59);
  const interval = parts.INTERVAL === undefined ? 1 : whole(parts.INTERVAL, 1, INTERVAL_MAX);
  if (hour == null || minute == null || interval == null) return null;
  const spec = { freq, interval, time: `${pad(hour)}:${pad(minute)}`, days: [], monthDay: 1 };
  if (freq === "weekly") {
    const days = (parts.BYDAY || "").split(",");
    if (!parts.BYDAY || days.some((d) => !weekdays.includes(d))) return null;
    spec.days = weekdays.filter((d) => days.includes(d));
  }
  if (freq === "monthly") {
    const day = parts.BYMONTHDAY === "-1" ? -1 : whole(parts.BYMONTHDAY, 1, 31);
    if (day == null) return null;
    spec.monthDay = day;
  }
  return spec;
}

/** The weekday code of a wire time's wall-clock date ("2026-12-07T09:00…" → "MO"). */
export function weekdayOf(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
  if (!m) return "";
  const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDay();
  return ["SU", "MO", "TU", "WE", "TH", "FR", "SA"][day];
}

/** A wire time's offset from UTC as it is written there ("+08:00"; "Z" is "+00:00"). */
export function offsetOf(iso) {
  const m = /([+-]\d{2}:\d{2}|Z)$/.exec(iso || "");
  return !m ? "" : m[1] === "Z" ? "+00:00" : m[1];
}
