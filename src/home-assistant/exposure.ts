import type { ExposureSettings } from '../config.js';
import { normalizeText } from './text.js';
import { entityDomain, type HassEntityEntry } from './types.js';

/** The facts about one entity that the exposure rules use. */
export interface ExposureCandidate {
  entityId: string;
  registry: HassEntityEntry | undefined;
  /** Effective area: the entity's own, else its device's. */
  areaId: string | undefined;
  areaName: string | undefined;
}

export const EXPOSE_ALL: ExposureSettings = {
  exposeAll: true,
  domains: [],
  excludeDomains: [],
  areas: [],
  excludeAreas: [],
  entities: [],
  excludeEntities: [],
};

/** Turns `sensor.*_battery` into a regular expression that matches the whole entity id. */
function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** Home Assistant's "Expose to Assist" switch, when the entity registry carries it. */
export function assistExposure(entry: HassEntityEntry | undefined): boolean | undefined {
  const conversation = entry?.options?.conversation;
  if (typeof conversation !== 'object' || conversation === null) return undefined;
  const shouldExpose = (conversation as { should_expose?: unknown }).should_expose;
  return typeof shouldExpose === 'boolean' ? shouldExpose : undefined;
}

/**
 * Decides which entities the agent may read and act on. The base set is every entity that Home Assistant
 * exposes to Assist; an entity without that mark (no registry entry, or a home without the setting)
 * counts as exposed, and HA_EXPOSE_ALL makes every entity the base set. Include lists then narrow the
 * base set: when any of HA_EXPOSE_DOMAINS, HA_EXPOSE_AREAS or HA_EXPOSE_ENTITIES is set, an entity must
 * match at least one of them. Exclude lists remove entities last, so they always win.
 */
export class ExposureRules {
  private readonly entityPatterns: RegExp[];
  private readonly excludedPatterns: RegExp[];
  private readonly areas: Set<string>;
  private readonly excludedAreas: Set<string>;
  private readonly hasIncludes: boolean;

  constructor(private readonly settings: ExposureSettings) {
    this.entityPatterns = settings.entities.map(globToRegExp);
    this.excludedPatterns = settings.excludeEntities.map(globToRegExp);
    this.areas = new Set(settings.areas.map(normalizeText));
    this.excludedAreas = new Set(settings.excludeAreas.map(normalizeText));
    this.hasIncludes = settings.domains.length > 0 || settings.areas.length > 0 || settings.entities.length > 0;
  }

  isExposed(candidate: ExposureCandidate): boolean {
    const { entityId } = candidate;
    if (!this.settings.exposeAll && assistExposure(candidate.registry) === false) return false;

    const domain = entityDomain(entityId);
    if (this.hasIncludes) {
      const included =
        this.settings.domains.includes(domain) || this.matchesArea(this.areas, candidate) || this.entityPatterns.some((pattern) => pattern.test(entityId));
      if (!included) return false;
    }

    if (this.settings.excludeDomains.includes(domain)) return false;
    if (this.matchesArea(this.excludedAreas, candidate)) return false;
    return !this.excludedPatterns.some((pattern) => pattern.test(entityId));
  }

  private matchesArea(areas: Set<string>, candidate: ExposureCandidate): boolean {
    if (areas.size === 0) return false;
    return (
      (candidate.areaId !== undefined && areas.has(normalizeText(candidate.areaId))) ||
      (candidate.areaName !== undefined && areas.has(normalizeText(candidate.areaName)))
    );
  }
}
