import { GraphQLError, type ASTVisitor, type ValidationContext, type ValidationRule } from 'graphql';
import { countRootFields } from './root-fields.js';

/**
 * Builds a validation rule that lets an operation select each of `fields` (root fields of Query) at most
 * once. A field that builds a large result, such as exportMyData, would otherwise run once per alias in
 * one request.
 */
export function singleSelectionRule(fields: readonly string[]): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      if (operation.operation !== 'query') return;
      const counts = countRootFields(context.getDocument(), operation.selectionSet);
      for (const field of fields) {
        const count = counts.get(field) ?? 0;
        if (count <= 1) continue;
        context.reportError(
          new GraphQLError(`${field} may be selected at most once per operation, found ${count}. Send one ${field} field without aliases.`, {
            nodes: operation,
            extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
          }),
        );
      }
    },
  });
}
