/**
 * The key a name in a spec (initializer, loss, metric, optimizer, regularizer) is looked up by, so
 * Keras and JS spellings agree: 'glorot_uniform', 'glorotUniform' and 'Glorot-Uniform' → 'glorotuniform'.
 */
export function nameKey(name: string): string {
  return name.replace(/[_\s-]/g, '').toLowerCase();
}
