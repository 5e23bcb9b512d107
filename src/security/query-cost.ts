import {
  getNamedType,
  isLeafType,
  isObjectType,
  isInterfaceType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

export interface QueryCostWeights {
  /** Cost of a field that returns an object. */
  objectCost: number;
  /** Cost of a field that returns a scalar or enum. */
  scalarCost: number;
  /** Factor applied to the cost of each nested selection, so depth costs more than breadth. */
  depthFactor: number;
  /** Page size assumed for a field with a `first` argument that the client left out. */
  defaultPageSize: number;
}

export const DEFAULT_COST_WEIGHTS: Omit<QueryCostWeights, 'defaultPageSize'> = { objectCost: 2, scalarCost: 1, depthFactor: 1.5 };

/** Reads an Int argument given as a literal or a variable. */
function intArgument(value: ValueNode | undefined, variables: Record<string, unknown>): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const variable = variables[value.name.value];
    return typeof variable === 'number' && Number.isFinite(variable) ? variable : undefined;
  }
  return undefined;
}

/** Int defaults of the operation's variables, which apply when the request leaves a variable out. */
function variableDefaults(operation: OperationDefinitionNode): Record<string, number> {
  const defaults: Record<string, number> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue?.kind === Kind.INT) defaults[definition.variable.name.value] = Number(definition.defaultValue.value);
  }
  return defaults;
}

function findOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((operation) => operation.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

/**
 * Estimates what an operation costs to run before it runs. Each object field costs `objectCost` plus
 * `depthFactor` times its selections, each scalar `scalarCost`, and a field with a `first` argument is
 * multiplied by the page size it asks for. Unlike a validation rule, this sees the variable values, so
 * `first: $n` is priced at the real n, or at the variable's default when the request leaves it out. Lists without `first` count once, because their size is not
 * known before execution.
 */
export function estimateQueryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown>,
  weights: QueryCostWeights,
): number {
  const operation = findOperation(document, operationName);
  if (!operation) return 0;
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const values = { ...variableDefaults(operation), ...variables };

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }

  const fieldDefinition = (parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined => {
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
    return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
  };

  // A fragment's cost depends only on the fragment and its type, so it is computed once. Without this,
  // a chain of fragments that each spread the next one twice would take exponential time to price.
  const fragmentCosts = new Map<string, number>();

  const selectionCost = (selectionSet: SelectionSetNode, parent: GraphQLNamedType, visiting: Set<string>): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') continue;
        const definition = fieldDefinition(parent, selection.name.value);
        if (!definition) continue;
        const type = getNamedType(definition.type);
        if (isLeafType(type) || !selection.selectionSet) {
          total += weights.scalarCost;
          continue;
        }
        let cost = weights.objectCost + weights.depthFactor * selectionCost(selection.selectionSet, type, visiting);
        if (definition.args.some((argument) => argument.name === 'first')) {
          const first = intArgument(selection.arguments?.find((argument) => argument.name.value === 'first')?.value, values);
          cost *= Math.max(1, first ?? weights.defaultPageSize);
        }
        total += cost;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) ?? parent) : parent;
        total += selectionCost(selection.selectionSet, type, visiting);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // Validation rejects fragment cycles before this runs; the guard only keeps a bug from looping.
        if (!fragment || visiting.has(name)) continue;
        const type = schema.getType(fragment.typeCondition.name.value) ?? parent;
        const key = `${name} ${type.name}`;
        let cost = fragmentCosts.get(key);
        if (cost === undefined) {
          cost = selectionCost(fragment.selectionSet, type, new Set([...visiting, name]));
          fragmentCosts.set(key, cost);
        }
        total += cost;
      }
    }
    return total;
  };

  return selectionCost(operation.selectionSet, root as GraphQLCompositeType, new Set());
}
