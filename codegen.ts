import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchema } from 'graphql';
import { buildSchema } from './src/graphql/schema.js';

/**
 * Prints the Pothos schema to schema/schema.graphql. CI runs this and fails when the committed file
 * differs, so the SDL always matches the code.
 */
const config: CodegenConfig = {
  schema: printSchema(buildSchema()),
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { includeDirectives: false, commentDescriptions: false },
    },
  },
  hooks: {},
  silent: true,
};

export default config;
