// What the API clients tell the application without depending on it: a 401 on a route that
// needs a session means the session has ended (idle, absolute timeout, logout elsewhere).
// The shell registers the handler (back to the login page, keeping the path to return to).
let unauthorized: (() => void) | undefined;

export function onUnauthorized(fn: () => void): void {
  unauthorized = fn;
}

export function notifyUnauthorized(): void {
  unauthorized?.();
}
