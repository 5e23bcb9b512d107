import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchema } from 'graphql';
import { buildSchema } from './src/graphql/schema.js';

/**
 * Prints the Pothos schema to schema/schema.graphql and generates typed documents for the operations in
 * test/operations. CI runs this and fails when a committed output differs, so both match the code.
 */
const config: CodegenConfig = {
  schema: printSchema(buildSchema()),
  // Relative imports in the generated files need explicit extensions under NodeNext resolution.
  emitLegacyCommonJSImports: false,
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { includeDirectives: false, commentDescriptions: false },
    },
    'test/gql/': {
      documents: ['test/operations/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', JSON: 'unknown' } },
    },
  },
  silent: true,
};

export default config;
