// navigate() for pages and components, without importing the shell (app.ts registers it).
type Navigator = (path: string, opts?: { replace?: boolean }) => void;

let impl: Navigator = (path, opts) => {
  if (opts?.replace) location.replace(path);
  else location.assign(path);
};

export function setNavigator(fn: Navigator): void {
  impl = fn;
}

/** Go to a same-origin path (pushes history unless `replace`). */
export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  impl(path, opts);
}
