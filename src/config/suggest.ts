// Spelling suggestions: the closest known word by edit distance, for misspelt field names and enum values.

/**
 * Edit distance with adjacent transpositions (optimal string alignment: `nmae` → `name` is 1),
 * bounded: returns `max + 1` as soon as the distance must exceed `max`.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = new Array<number>(b.length + 1);
  let curr = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    curr[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (curr[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) v = Math.min(v, (before[j - 2] as number) + 1);
      curr[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [before, prev, curr] = [prev, curr, before];
  }
  return prev[b.length] as number;
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo: a case-insensitive
 * match, a candidate containing the word, or an edit distance of at most 1 (words up to 5 letters), else half the length (at most 3).
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const limit = word.length <= 5 ? 1 : Math.min(3, Math.floor(word.length / 2));
  let best: string | undefined;
  let bestDistance = limit + 1;
  const list = [...candidates];
  for (const c of list) if (c.toLowerCase() === lower) return c;
  // A word that is a clear part of exactly one candidate (`Prefix` → `PathPrefix`).
  if (word.length >= 4) {
    const containing = list.filter((c) => c.toLowerCase().includes(lower));
    if (containing.length === 1) return containing[0];
  }
  for (const c of list) {
    const d = editDistance(lower, c.toLowerCase(), limit);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
