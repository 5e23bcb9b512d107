import { z } from 'zod';
import type { HassServiceDescription } from '../../home-assistant/types.js';
import { availableHome, completed, defineTool, DOMAIN_PATTERN, rejected } from './tool.js';

/** Maximum length of a description passed on, because some integrations write paragraphs. */
const MAX_DESCRIPTION_CHARS = 160;

function shorten(text: unknown): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  return text.length > MAX_DESCRIPTION_CHARS ? `${text.slice(0, MAX_DESCRIPTION_CHARS - 1)}…` : text;
}

/** Flattens a service's fields; a section is a field that contains `{collapsed, fields}`. */
export function serviceFields(description: HassServiceDescription | undefined): Map<string, Record<string, unknown>> {
  const fields = new Map<string, Record<string, unknown>>();
  const visit = (node: Record<string, unknown> | undefined) => {
    for (const [name, value] of Object.entries(node ?? {})) {
      if (typeof value !== 'object' || value === null) continue;
      const field = value as Record<string, unknown>;
      if (typeof field.fields === 'object' && field.fields !== null && !('selector' in field)) visit(field.fields as Record<string, unknown>);
      else fields.set(name, field);
    }
  };
  visit(description?.fields);
  return fields;
}

export const listServicesTool = defineTool({
  name: 'list_services',
  description:
    "List the services (actions) of one domain with their data fields, and whether you may call each one and whether it needs the user's confirmation.",
  arguments: z.object({
    domain: z.string().regex(DOMAIN_PATTERN, 'a domain such as light').describe('The domain, such as light or cover.'),
  }),
  changesState: false,
  async run(args, context) {
    const home = availableHome(context);
    const services = home.cache.getServices()[args.domain];
    if (!services) {
      const domains = Object.keys(home.cache.getServices()).sort();
      return rejected('NOT_FOUND', `Home Assistant has no services in the ${args.domain} domain. Domains with services: ${domains.join(', ')}.`);
    }
    const { policy } = context.home;
    return completed({
      domain: args.domain,
      services: Object.keys(services)
        .sort()
        .map((service) => {
          const description = services[service];
          const fields = [...serviceFields(description).entries()].map(([name, field]) => ({
            name,
            ...(field.required === true ? { required: true } : {}),
            ...(shorten(field.description) ? { description: shorten(field.description) } : {}),
            ...(field.example !== undefined ? { example: field.example } : {}),
          }));
          const allowed = policy.isAllowed(args.domain, service);
          return {
            service,
            ...(shorten(description?.name) ? { name: shorten(description?.name) } : {}),
            ...(shorten(description?.description) ? { description: shorten(description?.description) } : {}),
            fields,
            allowed,
            ...(allowed && policy.mayNeedConfirmation(args.domain, service) ? { may_need_confirmation: true } : {}),
          };
        }),
    });
  },
});
