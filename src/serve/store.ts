/**
 * The models a server holds, by name and version. Loading a new version happens fully in the
 * background; the switch to it is one map update, so no request is dropped. A replaced version is
 * unloaded only after its queued and running requests finish.
 */
import { ModelNotFoundError } from '../engine/errors.js';
import type { Registry } from '../registry/registry.js';
import { type LoadModelOptions, ServedModel } from './model.js';

export type StoreLoadOptions = Omit<LoadModelOptions, 'name' | 'version'>;

export class ModelStore {
  private readonly models = new Map<string, Map<number, ServedModel>>();
  private readonly loading = new Map<string, Promise<ServedModel>>();
  /** Versions kept loaded per name (older ones are unloaded when a newer one arrives). */
  keepVersions = 2;

  constructor(
    private readonly options: StoreLoadOptions,
    private readonly registry?: Registry,
    private readonly onChange?: () => void,
    /** When set, only these names are looked up in the registry. */
    private readonly registryNames?: ReadonlySet<string>,
  ) {}

  private registered(name: string, version?: number) {
    if (!this.registry || (this.registryNames && !this.registryNames.has(name))) return undefined;
    return this.registry.findModel(name, version);
  }

  list(): ServedModel[] {
    return [...this.models.values()]
      .flatMap((m) => [...m.values()])
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }

  latest(name: string): ServedModel | undefined {
    const versions = this.models.get(name);
    if (!versions || versions.size === 0) return undefined;
    return versions.get(Math.max(...versions.keys()));
  }

  /** Loads a folder as name@version (default: next version) and makes it current once ready. */
  async load(dir: string, name?: string, version?: number): Promise<ServedModel> {
    const model = await ServedModel.load(dir, { ...this.options, name, version: version ?? this.nextVersion(name) });
    this.install(model);
    return model;
  }

  private nextVersion(name: string | undefined): number {
    if (!name) return 1;
    const versions = this.models.get(name);
    return versions?.size ? Math.max(...versions.keys()) + 1 : 1;
  }

  private install(model: ServedModel): void {
    let versions = this.models.get(model.name);
    if (!versions) {
      versions = new Map();
      this.models.set(model.name, versions);
    }
    const replaced = versions.get(model.version);
    versions.set(model.version, model);
    if (replaced && replaced !== model) void replaced.unload();
    const sorted = [...versions.keys()].sort((a, b) => b - a);
    for (const v of sorted.slice(this.keepVersions)) {
      const old = versions.get(v)!;
      versions.delete(v);
      void old.unload();
    }
    this.onChange?.();
  }

  /**
   * The model to answer a request: a loaded version, or (with a registry) the registered one,
   * loaded on first use. 404 when neither exists.
   */
  async resolve(name: string, version?: number): Promise<ServedModel> {
    const versions = this.models.get(name);
    if (version === undefined) {
      const latest = this.latest(name);
      const registered = this.registered(name);
      if (latest && (!registered || registered.version <= latest.version)) return latest;
      if (registered) return this.loadRegistered(name, registered.version, registered.path);
    } else {
      const m = versions?.get(version);
      if (m) return m;
      const registered = this.registered(name, version);
      if (registered) return this.loadRegistered(name, version, registered.path);
    }
    const known = [
      ...new Set([
        ...this.names(),
        ...(this.registry?.listModelNames().filter((n) => !this.registryNames || this.registryNames.has(n)) ?? []),
      ]),
    ];
    throw new ModelNotFoundError(
      version === undefined
        ? `no model '${name}' (available: ${known.length ? known.join(', ') : 'none'})`
        : `model '${name}' has no version ${version}`,
    );
  }

  private loadRegistered(name: string, version: number, path: string): Promise<ServedModel> {
    const key = `${name}@${version}`;
    let p = this.loading.get(key);
    if (!p) {
      p = ServedModel.load(path, { ...this.options, name, version })
        .then((m) => {
          this.install(m);
          return m;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  async unloadAll(): Promise<void> {
    const all = this.list();
    this.models.clear();
    await Promise.all(all.map((m) => m.unload()));
  }
}
