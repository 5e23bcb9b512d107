import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

/**
 * Counts how often a root field is selected in one selection set, through aliases, inline fragments and
 * named fragments. A fragment spread twice counts twice.
 */
function countRootField(
  selectionSet: SelectionSetNode,
  field: string,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  visiting: ReadonlySet<string>,
): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === field) count += 1;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += countRootField(selection.selectionSet, field, fragments, visiting);
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      // Another rule rejects fragment cycles, and this guard only keeps the count from looping.
      if (!fragment || visiting.has(name)) continue;
      count += countRootField(fragment.selectionSet, field, fragments, new Set([...visiting, name]));
    }
  }
  return count;
}

/**
 * Builds a validation rule that lets an operation select each of `fields` (root fields of Query) at most
 * once. A field that builds a large result, such as exportMyData, would otherwise run once per alias in
 * one request.
 */
export function singleSelectionRule(fields: readonly string[]): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      if (operation.operation !== 'query') return;
      const fragments = new Map<string, FragmentDefinitionNode>();
      for (const definition of context.getDocument().definitions) {
        if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
      }
      for (const field of fields) {
        const count = countRootField(operation.selectionSet, field, fragments, new Set());
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
