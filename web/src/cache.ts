// A small in-memory cache of API answers, so that switching language or coming back to a page
// re-renders at once. Loads are not tied to a page's AbortSignal: a page that is left simply
// ignores the answer (it is still cached for the next visit).
const store = new Map<string, { at: number; value: Promise<unknown> }>();
const TTL_MS = 60_000;

export function cached<T>(key: string, load: () => Promise<T>): Promise<T> {
  const hit = store.get(key);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value as Promise<T>;
  const value = load();
  store.set(key, { at: Date.now(), value });
  value.catch(() => {
    if (store.get(key)?.value === value) store.delete(key);
  });
  return value;
}

export function invalidate(prefix: string): void {
  for (const key of [...store.keys()]) if (key.startsWith(prefix)) store.delete(key);
}
