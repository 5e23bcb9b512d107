/**
 * Folds text for matching: Unicode compatibility forms, no accents (so "kuche" finds "Küche"), lower
 * case, and runs of whitespace collapsed.
 */
export function normalizeText(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Scripts written without spaces between words, where a query is matched by character pairs instead. */
const UNSPACED_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}]/u;

export function isUnspaced(text: string): boolean {
  return UNSPACED_SCRIPT.test(text);
}

/**
 * Splits normalized text into terms: words of spaced scripts, and whole runs of unspaced scripts
 * (Chinese, Japanese, Korean, Thai), which the search matches by character pairs.
 */
export function splitTerms(text: string): string[] {
  const terms: string[] = [];
  for (const match of normalizeText(text).matchAll(/[\p{L}\p{N}]+/gu)) {
    let word = '';
    let run = '';
    for (const character of match[0]) {
      if (isUnspaced(character)) {
        if (word) terms.push(word);
        word = '';
        run += character;
      } else {
        if (run) terms.push(run);
        run = '';
        word += character;
      }
    }
    if (word) terms.push(word);
    if (run) terms.push(run);
  }
  return terms;
}

/** Orders by UTF-16 code units, so the order never depends on the process locale. */
export function compareCodeUnits(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
