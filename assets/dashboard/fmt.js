// How figures are written: the same rules as the CLI (src/format.rs), so an amount reads the
// same in the terminal, the tray and the dashboard. No DOM here (unit-tested under Node).

/** Tooltip of every amount that leaves out usage without a known price. */
export const UNPRICED_TITLE = 'includes usage without a known price: a lower bound';

/** `1,234,567`; negative numbers keep their sign. */
export function int(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '?';
  const n = Math.trunc(v);
  const digits = String(Math.abs(n));
  return (n < 0 ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `$3.42`, `$1,234.50`; above zero but rounding to nothing is `<$0.01`; not a number is `$?`. */
export function usd(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '$?';
  if (v < 0) return '-' + usd(-v);
  const cents = Math.round(v * 100);
  if (cents === 0 && v > 0) return '<$0.01';
  return '$' + int(Math.floor(cents / 100)) + '.' + String(cents % 100).padStart(2, '0');
}

/** `$3.42`, or `$3.42+` when the amount is a lower bound (usage without a price). */
export function usdMarked(v, hasUnpriced) {
  return hasUnpriced ? usd(v) + '+' : usd(v);
}

/** One request's cost: `$0.0123`; tiny positive amounts are `<$0.0001`. */
export function usd4(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '$?';
  if (v > 0 && v < 0.00005) return '<$0.0001';
  return '$' + v.toFixed(4);
}

/** `$2.40/h`. */
export function rate(usdPerHour) {
  return usd(usdPerHour) + '/h';
}

/** A fraction as a percentage: `92.3%`; `digits` decimals. */
export function pct(fraction, digits = 1) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '';
  return (fraction * 100).toFixed(digits) + '%';
}

/** Token counts for axes and labels: `950`, `15.2k`, `1.3M`. */
export function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'B';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(0) + 'k';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return String(Math.round(v));
}

/** A duration: `<1m`, `45m`, `2h 05m`, `3d 4h`. */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '';
  const min = Math.floor(ms / 60000);
  if (min < 1) return '<1m';
  if (min < 60) return min + 'm';
  const h = Math.floor(min / 60);
  if (h < 48) return h + 'h ' + String(min % 60).padStart(2, '0') + 'm';
  return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}

/** How long ago: `just now`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(ms, nowMs) {
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 172800) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}

/** Cost per hour of a span, or null when the span is under a minute (no meaningful rate). */
export function perHour(costUsd, ms) {
  if (!(ms >= 60000) || typeof costUsd !== 'number') return null;
  return costUsd / (ms / 3600000);
}

/** Share of the context read from the cache: cache_read / (input + cache_read + writes). */
export function cacheHitRate(s) {
  const ctx = contextSize(s);
  return ctx > 0 ? (s.cache_read || 0) / ctx : null;
}

/** Tokens sent to the model in a request (or a sum): input + cache read + cache writes. */
export function contextSize(s) {
  return (s.input || 0) + (s.cache_read || 0) + (s.cache_write_5m || 0) + (s.cache_write_1h || 0);
}

// ---- calendar days (YYYY-MM-DD strings, in the daemon's time zone) ------------------------

const dayFormats = new Map();
function dayFormat(tz) {
  let f = dayFormats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
    dayFormats.set(tz, f);
  }
  return f;
}

function parts(ms, tz) {
  const o = {};
  for (const p of dayFormat(tz).formatToParts(new Date(ms))) o[p.type] = p.value;
  return o;
}

/** The calendar day of an instant in a time zone: `2025-06-14`. */
export function dayOf(ms, tz) {
  const p = parts(ms, tz);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Local wall time of an instant: `2025-06-14 09:05` (`seconds` adds `:07`). */
export function dateTime(ms, tz, seconds = false) {
  const p = parts(ms, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` + (seconds ? ':' + p.second : '');
}

/** Local time of day: `09:05:07`. */
export function timeOf(ms, tz) {
  const p = parts(ms, tz);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** Whether a string is a real YYYY-MM-DD date. */
export function isDay(s) {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(s + 'T00:00:00Z');
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** `day` plus `n` calendar days. */
export function addDays(day, n) {
  const d = new Date(day + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Calendar days from `a` to `b` (b - a). */
export function daysBetween(a, b) {
  return Math.round((Date.parse(b + 'T00:00:00Z') - Date.parse(a + 'T00:00:00Z')) / 86400000);
}

/** Every day from `since` to `until`, both included. */
export function dayRange(since, until) {
  const out = [];
  for (let d = since; d <= until && out.length < 4000; d = addDays(d, 1)) out.push(d);
  return out;
}

/** 0 for Monday ... 6 for Sunday. */
export function weekday(day) {
  return (new Date(day + 'T00:00:00Z').getUTCDay() + 6) % 7;
}

/** Seconds since the epoch of the UTC midnight of a day (the x value of per-day charts). */
export function dayToX(day) {
  return Date.parse(day + 'T00:00:00Z') / 1000;
}
