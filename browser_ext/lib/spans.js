// Split a draft into pieces for highlighting the checker's flags.  Flag offsets count Unicode
// code points (the service is Python), so the text is split with Array.from, not by UTF-16 units.

const RANK = { block: 2, warn: 1 };

export function segments(text, flags) {
  const chars = Array.from(text || '');
  const cover = chars.map(() => []);
  (flags || []).forEach((flag, index) => {
    const start = Math.max(0, flag.start | 0);
    const end = Math.min(chars.length, flag.end | 0);
    for (let i = start; i < end; i += 1) cover[i].push(index);
  });
  const out = [];
  let current = null;
  chars.forEach((ch, i) => {
    const ids = cover[i].join(',');
    if (current && current.ids === ids) {
      current.text += ch;
    } else {
      current = { text: ch, ids, flags: cover[i].slice() };
      out.push(current);
    }
  });
  return out.map(({ text: piece, flags: idx }) => {
    let severity = null;
    for (const i of idx) {
      const s = flags[i].severity;
      if (!severity || (RANK[s] || 0) > (RANK[severity] || 0)) severity = s;
    }
    return { text: piece, flagIndexes: idx, severity };
  });
}

// Flags shown in the list: one per rule and span (the same span flagged twice is shown once),
// blocking ones first, then in the order they appear in the draft.
export function distinctFlags(flags) {
  const seen = new Set();
  const out = [];
  for (const flag of flags || []) {
    const key = `${flag.rule}|${flag.start}|${flag.end}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(flag);
  }
  return out.sort((a, b) => (RANK[b.severity] || 0) - (RANK[a.severity] || 0) || a.start - b.start);
}
