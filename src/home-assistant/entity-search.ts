import type { HomeIndex, IndexedEntity } from './home-index.js';
import { compareCodeUnits, isUnspaced, normalizeText, splitTerms } from './text.js';

export interface EntitySearch {
  text?: string | null;
  domain?: string | null;
  /** Area id, name or alias. */
  area?: string | null;
  /** Floor id, name or alias. */
  floor?: string | null;
  limit: number;
}

export type EntitySearchResult = { ok: true; entities: IndexedEntity[]; total: number } | { ok: false; problem: string };

/** Domains people act on; among equally good matches they come before sensors, buttons and updates. */
const ACTIONABLE_DOMAINS = new Set([
  'light',
  'switch',
  'fan',
  'cover',
  'climate',
  'lock',
  'alarm_control_panel',
  'media_player',
  'vacuum',
  'humidifier',
  'water_heater',
  'valve',
  'scene',
  'script',
  'input_boolean',
]);

/** Words that carry no meaning in an entity search. */
const STOP_WORDS = new Set(['a', 'an', 'the', 'in', 'on', 'of', 'at', 'my', 'our', 'to', 'and', 'or', 'is', 'are', 'all', 'please']);

interface Scored {
  entity: IndexedEntity;
  matched: number;
  score: number;
}

/** Character pairs of a run of an unspaced script, the unit its matching uses. */
function pairs(run: string): string[] {
  const characters = [...run];
  if (characters.length < 2) return characters;
  return characters.slice(0, -1).map((character, index) => character + characters[index + 1]);
}

/** Scores one term against one entity; 0 means no match. */
function scoreTerm(term: string, entity: IndexedEntity, words: string[], name: string): number {
  if (isUnspaced(term)) {
    if (entity.searchText.includes(term)) return name.includes(term) ? 4 : 3;
    const termPairs = pairs(term);
    const found = termPairs.filter((pair) => entity.searchText.includes(pair)).length;
    const share = found / termPairs.length;
    return share >= 0.5 ? 2 * share : 0;
  }

  const singular = term.length > 3 && term.endsWith('s') && !term.endsWith('ss') ? term.slice(0, -1) : term;
  let best = 0;
  for (const word of words) {
    if (word === term || word === singular) best = Math.max(best, 3);
    else if (term.length >= 2 && word.startsWith(singular)) best = Math.max(best, 2);
    else if (singular.length >= 4 && word.includes(singular)) best = Math.max(best, 1);
    if (best === 3) break;
  }
  if (best > 0 && name.includes(singular)) best += 1;
  return best;
}

/**
 * Finds exposed entities by text (name, entity id, area, floor, device, aliases), domain, area and floor.
 * Text matches whole words, word prefixes and singular forms in spaced scripts, and substrings or
 * character pairs in Chinese, Japanese, Korean and Thai, all without regard to case or accents. Results
 * come best first: most query terms matched, then the highest score, then domains people act on, then
 * the shortest name.
 */
export function searchEntities(index: HomeIndex, search: EntitySearch): EntitySearchResult {
  let candidates = index.entities;
  if (search.domain) candidates = candidates.filter((entity) => entity.domain === search.domain);
  if (search.area) {
    const area = index.findArea(search.area);
    if (!area)
      return {
        ok: false,
        problem: `No area matches "${search.area}". Areas: ${index.areas.map((item) => `${item.name} (${item.area_id})`).join(', ') || 'none'}.`,
      };
    candidates = candidates.filter((entity) => entity.areaId === area.area_id);
  }
  if (search.floor) {
    const floor = index.findFloor(search.floor);
    if (!floor)
      return {
        ok: false,
        problem: `No floor matches "${search.floor}". Floors: ${index.floors.map((item) => `${item.name} (${item.floor_id})`).join(', ') || 'none'}.`,
      };
    candidates = candidates.filter((entity) => entity.floorId === floor.floor_id);
  }

  const terms = splitTerms(search.text ?? '').filter((term) => !STOP_WORDS.has(term));
  if (terms.length === 0) return { ok: true, entities: candidates.slice(0, search.limit), total: candidates.length };

  const scored: Scored[] = [];
  for (const entity of candidates) {
    const words = entity.searchText.split(' ');
    const name = normalizeText(entity.name);
    let matched = 0;
    let score = 0;
    for (const term of terms) {
      const points = scoreTerm(term, entity, words, name);
      if (points > 0) {
        matched += 1;
        score += points;
      }
    }
    if (matched > 0) scored.push({ entity, matched, score });
  }
  scored.sort(
    (a, b) =>
      b.matched - a.matched ||
      b.score - a.score ||
      Number(!ACTIONABLE_DOMAINS.has(a.entity.domain)) - Number(!ACTIONABLE_DOMAINS.has(b.entity.domain)) ||
      a.entity.name.length - b.entity.name.length ||
      compareCodeUnits(a.entity.entityId, b.entity.entityId),
  );
  return { ok: true, entities: scored.slice(0, search.limit).map((item) => item.entity), total: scored.length };
}
