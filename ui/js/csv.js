// getData.csv lines in, plot columns and CSV export out.
//
// A getData.csv line is `secs,val,severity,status,nanos`; `val` is the
// server's text and may itself contain commas (waveforms `[1.0,2.0]`,
// `optimized` vectors `[mean,std,min,max,n]`), so the fixed fields are
// taken from both ends.

/** Parses getData.csv text into samples {secs, nanos, text, severity, status}. */
export function parseDataCsv(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const parts = line.split(',');
    if (parts.length < 5) continue;
    const n = parts.length;
    out.push({
      secs: Number(parts[0]),
      text: parts.slice(1, n - 3).join(','),
      severity: parts[n - 3],
      status: parts[n - 2],
      nanos: Number(parts[n - 1]),
    });
  }
  return out;
}

/** Numbers of a value text: `1.5` → [1.5], `[1.0,2.0]` → [1, 2]. */
export function numbersOf(text) {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (t === '') return [];
  return t.split(',').map((x) => Number(x));
}

/** Seconds since the epoch with the fraction (uPlot's x). */
export function xOf(sample) {
  return sample.secs + sample.nanos / 1e9;
}

/** One CSV field (RFC 4180 quoting when needed). */
export function csvField(v) {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** ISO-8601 UTC with nanoseconds: 2024-03-15T09:30:00.123456789Z. */
export function isoNanos(secs, nanos) {
  const base = new Date(secs * 1000).toISOString().slice(0, 19);
  return `${base}.${String(nanos).padStart(9, '0')}Z`;
}

/** Header of the exported CSV. */
export const EXPORT_HEADER = ['pv', 'time_utc', 'secs', 'nanos', 'val', 'severity', 'status'];

/**
 * The exported CSV: one row per sample and PV, `val` exactly as the server
 * sent it. `series` = [{pv, samples}].
 */
export function exportCsv(series) {
  const rows = [EXPORT_HEADER.join(',')];
  for (const { pv, samples } of series) {
    for (const s of samples) {
      rows.push(
        [pv, isoNanos(s.secs, s.nanos), s.secs, s.nanos, s.text, s.severity, s.status]
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${rows.join('\r\n')}\r\n`;
}
