// Who is signed in. Loaded once with GET /auth/session when the app starts (null on 401),
// refreshed after a login, cleared at logout or when the server says the session ended.
// The shell reads it to guard pages and to show the person's name.
import { auth, type AccountKind, type Session } from './api/auth';

let current: Session | null = null;
let loaded: Promise<Session | null> | undefined;

/** The session as last loaded (null when signed out or not loaded yet). */
export function getSession(): Session | null {
  return current;
}

/** Loads the session once; `force` asks the server again (after a login). */
export function loadSession(force = false): Promise<Session | null> {
  if (!loaded || force) {
    const p = auth
      .session()
      .catch(() => null) // unreachable server: treated as signed out; pages show their own errors
      .then((s) => {
        if (loaded === p) current = s;
        return s;
      });
    loaded = p;
  }
  return loaded;
}

export function clearSession(): void {
  loaded = Promise.resolve(null);
  current = null;
}

/** Patients, and people who act for someone's record (parents, caregivers). */
export function isPatientSession(s: Session | null): boolean {
  return !!s && (s.account.kind === 'patient' || (s.records?.length ?? 0) > 0);
}

export function isOperator(kind: AccountKind | undefined): boolean {
  return kind === 'advisor' || kind === 'admin';
}

/** The home of a person's space, by account kind. */
export function homeFor(s: Session | null): string {
  if (!s) return '/connexion';
  switch (s.account.kind) {
    case 'professional':
      return '/pro';
    case 'advisor':
    case 'admin':
      return '/operateur';
    default:
      return '/patient';
  }
}

/** The record the patient space shows: one's own, else the first one acted for. */
export function recordIdOf(s: Session | null): string | undefined {
  return s?.account.patient_id || s?.records?.[0]?.patient_id || undefined;
}
