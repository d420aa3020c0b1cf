/**
 * Class names that travel with a label tensor: loaders tag the labels they return, `fit` records
 * the names of the labels it trains on, and `save` writes them into config.json by default — so a
 * model trained on Fashion-MNIST serves "Ankle boot" without the user passing names around.
 */
const names = new WeakMap<object, readonly string[]>();

/** Tags `labels` (a label tensor) with the names of its classes; returns `labels`. */
export function withClassNames<T extends object>(labels: T, classNames: readonly string[]): T {
  names.set(labels, Object.freeze([...classNames]));
  return labels;
}

/** The class names a label tensor was tagged with, if any. */
export function classNamesOf(labels: unknown): readonly string[] | undefined {
  return typeof labels === 'object' && labels !== null ? names.get(labels) : undefined;
}
