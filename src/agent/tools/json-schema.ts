import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/**
 * Converts a tool's Zod schema to the JSON schema sent to the model. Optional properties are listed as
 * required but nullable, and objects allow no other properties, which is the form OpenAI's strict
 * function calling accepts. The tool still validates with the Zod schema, which also accepts a missing
 * property, so models without strict mode work too.
 */
export function toToolJsonSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return makeStrict(json);
}

function makeStrict(node: JsonSchema): JsonSchema {
  if (node.type === 'object' && node.properties && typeof node.properties === 'object') {
    const properties = node.properties as Record<string, JsonSchema>;
    const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
    const strictProperties: Record<string, JsonSchema> = {};
    for (const [key, value] of Object.entries(properties)) {
      const strict = makeStrict(value);
      strictProperties[key] = required.has(key) ? strict : allowNull(strict);
    }
    return { ...node, properties: strictProperties, required: Object.keys(properties), additionalProperties: false };
  }
  if (node.type === 'array' && node.items && typeof node.items === 'object') {
    return { ...node, items: makeStrict(node.items as JsonSchema) };
  }
  if (Array.isArray(node.anyOf)) {
    return { ...node, anyOf: (node.anyOf as JsonSchema[]).map(makeStrict) };
  }
  return node;
}

function allowNull(node: JsonSchema): JsonSchema {
  if (Array.isArray(node.anyOf)) {
    const options = node.anyOf as JsonSchema[];
    return options.some((option) => option.type === 'null') ? node : { ...node, anyOf: [...options, { type: 'null' }] };
  }
  if (node.type === 'null') return node;
  const { description, ...rest } = node;
  return { anyOf: [rest, { type: 'null' }], ...(description ? { description } : {}) };
}
