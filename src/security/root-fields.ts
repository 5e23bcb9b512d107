import { Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';

/**
 * Counts how often each root field is selected in an operation's selection set, through aliases, inline
 * fragments and named fragments; a fragment spread twice counts twice. Each fragment is counted once
 * and its counts reused, because a chain of fragments that each spread the next one twice would
 * otherwise take time exponential in its length. A fragment that spreads itself counts nothing there.
 */
export function countRootFields(document: DocumentNode, selectionSet: SelectionSetNode): Map<string, number> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const counted = new Map<string, Map<string, number>>();
  const inProgress = new Set<string>();

  const add = (into: Map<string, number>, counts: ReadonlyMap<string, number>) => {
    for (const [field, count] of counts) into.set(field, (into.get(field) ?? 0) + count);
  };
  const countFragment = (name: string): ReadonlyMap<string, number> => {
    const known = counted.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment || inProgress.has(name)) return new Map();
    inProgress.add(name);
    const counts = countSelections(fragment.selectionSet);
    inProgress.delete(name);
    counted.set(name, counts);
    return counts;
  };
  const countSelections = (selections: SelectionSetNode): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) counts.set(selection.name.value, (counts.get(selection.name.value) ?? 0) + 1);
      else if (selection.kind === Kind.INLINE_FRAGMENT) add(counts, countSelections(selection.selectionSet));
      else add(counts, countFragment(selection.name.value));
    }
    return counts;
  };

  return countSelections(selectionSet);
}
