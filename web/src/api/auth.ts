// The identity API (docs/AUTH-API.md): /auth, /directory and /admin, as JSON over fetch.
//
//   import { auth } from './api/auth';
//   const c = await auth.login('marie.martin@example.fr', '…');   // → { challenge, channel, to }
//   const s = await auth.verify(c.challenge, '123456', false);      // session cookie set, CSRF kept
//
// The portal is authenticated by the HttpOnly session cookie; what JavaScript keeps is the
// CSRF token (in memory only), sent as X-CSRF-Token on every write. After a reload it comes
// back with GET /auth/session. Errors are AuthError: HTTP status, the OperationOutcome
// diagnostics (French sentences the pages may show as is) and Retry-After in seconds.
import { FhirError, isOutcome } from './fhir';
import { notifyUnauthorized } from './hooks';
import type { OperationOutcome } from './fhir-types';

export type AccountKind = 'patient' | 'professional' | 'advisor' | 'admin';
export type AccountStatus = 'pending' | 'active' | 'opposed' | 'closed' | 'deleted';
export type CodeChannel = 'email' | 'sms' | 'totp';
export type ContactChannel = 'email' | 'sms';
/** Microseconds since the epoch (the API's times). */
export type Micros = number;

export class AuthError extends FhirError {
  /** Seconds to wait before trying again (429, 503), from Retry-After; undefined if absent. */
  readonly retryAfter: number | undefined;

  constructor(kind: FhirError['kind'], status: number, message: string, outcome?: OperationOutcome, retryAfter?: number) {
    super(kind, status, message, outcome);
    this.name = 'AuthError';
    this.retryAfter = retryAfter;
  }

  /** The element the server named as at fault (issue.expression), e.g. "email", if any. */
  get field(): string | undefined {
    return this.outcome?.issue?.find((i) => i.expression?.length)?.expression?.[0];
  }
}

/** A code was sent (or the authenticator app is asked): what the code step needs. */
export interface Challenge {
  challenge: string;
  channel: CodeChannel;
  /** Masked destination: "m•••@e•••.fr", "•• •• •• •• 42". */
  to?: string;
}

/** The answer of verify / activate-confirm / a trusted-device login. */
export interface IssuedSession {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  csrf_token: string;
}

export type LoginAnswer = Challenge | (IssuedSession & { channel: 'trusted-device' });

export interface SessionAccount {
  id: string;
  kind: AccountKind;
  status: AccountStatus;
  display_name: string;
  patient_id?: string;
  profession?: string;
}

/** How the signed-in person reaches a record: their own, a minor they represent, as a caregiver. */
export type Relation = 'self' | 'representative' | 'caregiver';

/** A record the person may act for (their own, a parent for a child, a caregiver). */
export interface RecordRef {
  patient_id: string;
  display_name?: string;
  relation?: Relation | string;
  /** The record holder's account status ("active", "pending" for a minor, "closed"). */
  status?: AccountStatus | string;
}

export interface Session {
  account: SessionAccount;
  csrf_token: string;
  method: string;
  auth_time: Micros;
  /** Password and code confirmed less than 5 minutes ago: closing, deleting… allowed. */
  recently_authenticated?: boolean;
  records?: RecordRef[];
}

export type DelegationKind = 'caregiver' | 'representative';

/** A representative or caregiver of a record (GET /auth/records/{id}/delegations). */
export interface Delegation {
  id: string;
  patient_id?: string;
  kind: DelegationKind | string;
  status: 'invited' | 'active' | string;
  /** Given once the invitation is accepted. */
  delegate_name?: string;
  /** Masked address the invitation went to. */
  invited_to?: string;
  created_at?: Micros;
  accepted_at?: Micros | null;
}

export interface Me {
  id: string;
  kind: AccountKind;
  status: AccountStatus;
  login?: string;
  given?: string;
  family?: string;
  display_name?: string;
  birth_date?: string;
  ins?: string;
  rpps?: string;
  profession?: string;
  profession_label?: string;
  specialty?: string;
  organisation?: string;
  email?: string;
  email_verified?: boolean;
  phone?: string;
  phone_verified?: boolean;
  second_factor?: CodeChannel;
  totp_enabled?: boolean;
  created_at?: Micros;
  activated_at?: Micros;
}

export interface SessionEntry {
  handle: string;
  method?: string;
  ip?: string;
  user_agent?: string;
  created_at?: Micros;
  last_seen_at?: Micros;
  current?: boolean;
}

export interface DeviceEntry {
  handle: string;
  label?: string;
  created_at?: Micros;
  last_used_at?: Micros;
  expires_at?: Micros;
}

export interface AccountEvent {
  at: Micros;
  actor_kind?: string;
  action: string;
  detail?: string;
}

export interface TotpEnrolment {
  secret: string;
  otpauth_uri: string;
}

export interface Professional {
  id: string;
  rpps?: string;
  display_name: string;
  profession?: string;
  profession_label?: string;
  specialty?: string;
  organisation?: string;
}

export interface Profession {
  code: string;
  label: string;
}

export interface AccountSummary {
  id: string;
  kind: AccountKind;
  status: AccountStatus;
  display_name: string;
  ins?: string;
  rpps?: string;
  login?: string;
}

/** GET /admin/accounts/{id}: state only, never health content. */
export interface AccountDetail extends AccountSummary {
  activated_at?: Micros | null;
  created_at?: Micros;
  /** Masked contacts. */
  email?: string | null;
  email_verified?: boolean;
  phone?: string | null;
  phone_verified?: boolean;
  second_factor?: CodeChannel;
  locked_until?: Micros | null;
  history?: AccountEvent[];
}

export interface NewProfessional {
  rpps: string;
  given: string;
  family: string;
  profession: string;
  specialty?: string;
  organisation?: string;
  email?: string;
}

export interface Created<A> {
  account?: A;
  existed?: boolean;
  activation_code?: string;
}

export interface NewStaff {
  kind: 'advisor' | 'admin';
  login: string;
  given: string;
  family: string;
  email: string;
}

// ---------- transport ----------

let csrfToken: string | undefined;

/** The header a write made outside `call` (a file upload) must carry. */
export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
}

/** The CSRF token of the current session (memory only: never in storage). */
export function setCsrf(token: string | undefined): void {
  csrfToken = token || undefined;
}

export interface CallOptions {
  signal?: AbortSignal;
  /**
   * A 401 here is an answer, not an ended session (wrong code, not signed in): the shell is
   * not told. True for the public endpoints and GET /auth/session.
   */
  public?: boolean;
  /**
   * The request checks a password or a code of a signed-in person: a 401 may mean "wrong
   * password/code" as well as "session ended". The session is asked, and only an ended one
   * is reported to the shell.
   */
  verifies?: boolean;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** One JSON request with the session cookie (and the CSRF token on writes); shared by api/access.ts. */
export async function call<T>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (WRITES.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw new AuthError('aborted', 0, 'aborted');
    throw new AuthError('network', 0, err instanceof Error ? err.message : String(err));
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.public) {
      if (!opts.verifies || !(await stillSignedIn())) notifyUnauthorized();
    }
    throw new AuthError(
      'http',
      res.status,
      `HTTP ${res.status} ${res.statusText}`.trim(),
      isOutcome(parsed) ? parsed : undefined,
      parseRetryAfter(res.headers.get('Retry-After')),
    );
  }
  if (res.status === 204 || !text) return undefined as T;
  if (parsed === undefined) throw new AuthError('parse', res.status, 'unreadable response');
  return parsed as T;
}

async function stillSignedIn(): Promise<boolean> {
  try {
    await call<Session>('GET', '/auth/session', undefined, { public: true });
    return true;
  } catch {
    return false;
  }
}

const enc = encodeURIComponent;

export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Keeps the CSRF token of a freshly issued session. */
function keep<T extends { csrf_token?: string }>(answer: T): T {
  if (answer?.csrf_token) setCsrf(answer.csrf_token);
  return answer;
}

export function isSessionAnswer(a: LoginAnswer): a is IssuedSession & { channel: 'trusted-device' } {
  return a.channel === 'trusted-device' && 'access_token' in a;
}

const pub: CallOptions = { public: true };
const checks: CallOptions = { verifies: true };

export const auth = {
  // ---- public ----
  async login(login: string, password: string): Promise<LoginAnswer> {
    const a = await call<LoginAnswer>('POST', '/auth/login', { login, password }, pub);
    return isSessionAnswer(a) ? keep(a) : a;
  },
  async verify(challenge: string, code: string, trustDevice: boolean): Promise<IssuedSession> {
    return keep(await call<IssuedSession>('POST', '/auth/verify', { challenge, code, trust_device: trustDevice }, pub));
  },
  resend: (challenge: string) => call<void>('POST', '/auth/resend', { challenge }, pub),
  async logout(): Promise<void> {
    try {
      await call<void>('POST', '/auth/logout', undefined, pub);
    } finally {
      setCsrf(undefined);
    }
  },
  activate: (login: string, activationCode: string, password: string, channel: ContactChannel, address: string) =>
    call<Challenge>('POST', '/auth/activate', { login, activation_code: activationCode, password, channel, address }, pub),
  async activateConfirm(challenge: string, code: string): Promise<IssuedSession> {
    return keep(await call<IssuedSession>('POST', '/auth/activate/confirm', { challenge, code }, pub));
  },
  oppose: (login: string, activationCode: string) =>
    call<void>('POST', '/auth/oppose', { login, activation_code: activationCode }, pub),
  reset: (login: string) => call<Challenge>('POST', '/auth/reset', { login }, pub),
  resetConfirm: (challenge: string, code: string, password: string) =>
    call<void>('POST', '/auth/reset/confirm', { challenge, code, password }, pub),

  // ---- the signed-in person ----
  /** The current session, or null when not signed in (401). Keeps its CSRF token. */
  async session(signal?: AbortSignal): Promise<Session | null> {
    try {
      return keep(await call<Session>('GET', '/auth/session', undefined, { public: true, signal }));
    } catch (err) {
      if (err instanceof AuthError && err.status === 401) {
        setCsrf(undefined);
        return null;
      }
      throw err;
    }
  },
  me: (signal?: AbortSignal) => call<Me>('GET', '/auth/me', undefined, { signal }),
  changePassword: (current: string, password: string) => call<void>('POST', '/auth/me/password', { current, password }, checks),
  startContact: (channel: ContactChannel, address: string) => call<Challenge>('POST', '/auth/me/contact', { channel, address }),
  confirmContact: (challenge: string, code: string) => call<void>('POST', '/auth/me/contact/confirm', { challenge, code }, checks),
  setSecondFactor: (channel: ContactChannel) => call<void>('POST', '/auth/me/second-factor', { channel }),
  startTotp: () => call<TotpEnrolment>('POST', '/auth/me/totp'),
  confirmTotp: (code: string) => call<void>('POST', '/auth/me/totp/confirm', { code }, checks),
  disableTotp: (password: string) => call<void>('POST', '/auth/me/totp/disable', { password }, checks),
  sessions: (signal?: AbortSignal) => call<SessionEntry[]>('GET', '/auth/me/sessions', undefined, { signal }),
  revokeSession: (handle: string) => call<void>('DELETE', `/auth/me/sessions/${enc(handle)}`),
  devices: (signal?: AbortSignal) => call<DeviceEntry[]>('GET', '/auth/me/devices', undefined, { signal }),
  revokeDevice: (handle: string) => call<void>('DELETE', `/auth/me/devices/${enc(handle)}`),
  history: (signal?: AbortSignal) => call<AccountEvent[]>('GET', '/auth/me/history', undefined, { signal }),

  // ---- identity check before sensitive actions (valid 5 minutes) ----
  reauth: (password: string) => call<Challenge>('POST', '/auth/reauth', { password }, checks),
  reauthConfirm: (challenge: string, code: string) => call<void>('POST', '/auth/reauth/confirm', { challenge, code }, checks),

  // ---- the account's life: close, delete, reopen, export ----
  close: () => call<void>('POST', '/auth/me/close'),
  deleteAccount: () => call<void>('POST', '/auth/me/delete'),
  reopen: () => call<void>('POST', '/auth/me/reopen'),

  // ---- records, representatives and caregivers ----
  records: (signal?: AbortSignal) => call<RecordRef[]>('GET', '/auth/records', undefined, { signal }),
  delegations: (patientId: string, signal?: AbortSignal) =>
    call<Delegation[]>('GET', `/auth/records/${enc(patientId)}/delegations`, undefined, { signal }),
  invite: (patientId: string, kind: DelegationKind, login: string) =>
    call<Delegation>('POST', `/auth/records/${enc(patientId)}/delegations`, { kind, login }),
  endDelegation: (patientId: string, id: string) => call<void>('DELETE', `/auth/records/${enc(patientId)}/delegations/${enc(id)}`),
  acceptInvitation: (code: string) => call<RecordRef>('POST', '/auth/invitations/accept', { code }),

  // ---- professionals' card (client certificate on the HTTPS listener) ----
  /** A session from the card presented on this TLS connection; 401 with the reason otherwise. */
  async certificate(): Promise<IssuedSession> {
    return keep(await call<IssuedSession>('POST', '/auth/certificate', undefined, pub));
  },
};

/** The archive of the signed-in person's data: a plain link downloads it (the cookie goes along). */
export const EXPORT_PATH = '/auth/me/export';

export const directory = {
  professionals: (q: string, profession: string, signal?: AbortSignal) =>
    call<Professional[]>('GET', `/directory/professionals${query({ q, profession })}`, undefined, { signal }),
  professions: (signal?: AbortSignal) => call<Profession[]>('GET', '/directory/professions', undefined, { signal }),
};

export const admin = {
  accounts: (kind: string, q: string, signal?: AbortSignal) =>
    call<AccountSummary[]>('GET', `/admin/accounts${query({ kind, q })}`, undefined, { signal }),
  account: (id: string, signal?: AbortSignal) => call<AccountDetail>('GET', `/admin/accounts/${enc(id)}`, undefined, { signal }),
  resendActivation: (id: string) => call<void>('POST', `/admin/accounts/${enc(id)}/resend-activation`),
  unlock: (id: string) => call<void>('POST', `/admin/accounts/${enc(id)}/unlock`),
  /** 201 created, 200 when it already existed (left as is). */
  createProfessional: (p: NewProfessional) => call<Created<Professional>>('POST', '/admin/professionals', p),
  /** The activation code is in the answer only when the account is new: shown once. */
  createStaff: (s: NewStaff) => call<Created<AccountSummary>>('POST', '/admin/staff', s),
};
