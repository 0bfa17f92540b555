// Who is signed in. Loaded once with GET /auth/session when the app starts (null on 401),
// refreshed after a login, cleared at logout or when the server says the session ended.
// The shell reads it to guard pages and to show the person's name.
//
// People who act for someone else (a parent for a child, a caregiver) have several records in
// `records`; the one the patient space shows is chosen with the record switcher and kept in
// sessionStorage (this tab only, per account), never taken from the address.
import { auth, type AccountKind, type RecordRef, type Session } from './api/auth';

let current: Session | null = null;
let loaded: Promise<Session | null> | undefined;
const listeners = new Set<(s: Session | null) => void>();
const RECORD_KEY = 'carnet.record';

/** Called when the session is loaded again or the chosen record changes; returns the unsubscribe. */
export function onSessionChange(fn: (s: Session | null) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(): void {
  for (const fn of [...listeners]) fn(current);
}

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
        if (loaded === p) {
          current = s;
          if (force) changed();
        }
        return s;
      });
    loaded = p;
  }
  return loaded;
}

export function clearSession(): void {
  loaded = Promise.resolve(null);
  current = null;
  storeChoice(undefined);
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

/** The records this session may open; one's own first (a patient without `records` gets theirs). */
export function recordsOf(s: Session | null): RecordRef[] {
  if (!s) return [];
  const list = [...(s.records ?? [])];
  if (!list.length && s.account.kind === 'patient' && s.account.patient_id) {
    list.push({ patient_id: s.account.patient_id, display_name: s.account.display_name, relation: 'self', status: s.account.status });
  }
  return list.sort((a, b) => Number(b.relation === 'self') - Number(a.relation === 'self'));
}

function readChoice(accountId: string): string | undefined {
  try {
    const raw = sessionStorage.getItem(RECORD_KEY);
    if (!raw) return undefined;
    const v = JSON.parse(raw) as { account?: string; patient_id?: string };
    return v.account === accountId ? v.patient_id : undefined;
  } catch {
    return undefined; // storage unavailable or garbled: the default record
  }
}

function storeChoice(value: { account: string; patient_id: string } | undefined): void {
  try {
    if (value) sessionStorage.setItem(RECORD_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(RECORD_KEY);
  } catch {
    /* storage unavailable: the choice lasts until the next page load */
  }
}

/**
 * The record the patient space shows: the one chosen in this tab if the session still reaches
 * it, else one's own, else the first one acted for.
 */
export function currentRecord(s: Session | null): RecordRef | undefined {
  const list = recordsOf(s);
  if (!s || !list.length) return undefined;
  const chosen = readChoice(s.account.id);
  return list.find((r) => r.patient_id === chosen) ?? list.find((r) => r.relation === 'self') ?? list[0];
}

/** Show this record in the patient space (kept for this tab). */
export function chooseRecord(patientId: string): void {
  if (!current) return;
  storeChoice({ account: current.account.id, patient_id: patientId });
  changed();
}

/** The id of the record the patient space shows. */
export function recordIdOf(s: Session | null): string | undefined {
  return currentRecord(s)?.patient_id || undefined;
}
