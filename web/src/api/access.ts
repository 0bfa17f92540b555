// The access API (docs/ACCESS-API.md): the holder's controls, professionals' codes and
// emergency access, the access log, the authorization grid. JSON over the same transport as
// the identity API (api/auth.ts: session cookie, X-CSRF-Token on writes, AuthError).
//
//   import { access } from './api/access';
//   const settings = await access.settings(pid);                 // the holder's switches
//   await access.setSettings(pid, { btg: false });                // takes effect on the next request
//   const { code, expires_at } = await access.createCode(pid);   // shown once
//
// Times are microseconds since the epoch (Micros), as in the identity API.
import { call, query, type Micros } from './auth';

export type { Micros } from './auth';

/** The holder's switches (GET/PUT /access/records/{pid}/settings). */
export interface AccessSettings {
  /** SAMU regulation may open the record in an emergency. */
  etreat: boolean;
  /** Break-the-glass by any professional. */
  btg: boolean;
  /** Emergency access also sees the masked documents. */
  emergency_masked: boolean;
  /** Professionals only through emergency access. */
  emergency_only: boolean;
  /** New documents are masked from professionals by default. */
  mask_new: boolean;
  notify_email: boolean;
  notify_sms: boolean;
}

export type SettingKey = keyof AccessSettings;

export type ProStatus = 'authorised' | 'blocked' | 'known';
export type ProRole = 'medecin-traitant' | 'sage-femme-referente' | 'pharmacien-correspondant' | 'administrator';
/** One professional each (naming a new one moves it); `administrator`: any number. */
export const ROLES: ProRole[] = ['medecin-traitant', 'sage-femme-referente', 'pharmacien-correspondant', 'administrator'];

/** A professional with a relation to the record, or who accessed it. */
export interface RecordProfessional {
  account_id: string;
  name: string;
  profession?: string;
  profession_label?: string;
  specialty?: string;
  rpps?: string;
  status: ProStatus | string;
  roles: (ProRole | string)[];
  via_code?: boolean;
  last_access_at?: Micros | null;
}

export interface NewCode {
  id: string;
  /** "ABCD-EFGH-JK": 10 Crockford base32 characters. */
  code: string;
  expires_at: Micros;
}

export type CodeStatus = 'active' | 'used' | 'revoked' | 'expired' | 'void';

export interface AccessCode {
  id: string;
  created_at: Micros;
  expires_at: Micros;
  status: CodeStatus | string;
  used_by_name?: string;
}

export interface RecordDocument {
  type: string;
  id: string;
  /** FHIR date or dateTime. */
  date?: string;
  title?: string;
  /** DMP class code ("10" … "95"). */
  category?: string;
  masked: boolean;
  hidden_until?: Micros;
  author_name?: string;
  /** The caller deposited it (and may delete it). */
  own?: boolean;
  /** Its content: GET /fhir/Binary/{binary_id} ("" when it has none in Carnet). */
  binary_id?: string;
  content_type?: string;
  size?: number;
  /** current | superseded (a newer version replaced it) | entered-in-error (its author retracted it). */
  status?: 'current' | 'superseded' | 'entered-in-error';
  /** The document this one replaces, and the one that replaced it ("" when none is listed). */
  replaces?: string;
  replaced_by?: string;
}

export interface LogEntry {
  seq: number;
  /** The record (given in a professional's own log, where entries span records). */
  patient_id?: string;
  at: Micros;
  actor_name?: string;
  /** patient | professional | advisor | admin | system */
  actor_kind?: string;
  /** Profession code of a professional ("medecin"). */
  actor_profession?: string;
  /** read | create | update | delete | export | read-audit | manage | message | open-emergency | redeem-code | release-document | … */
  action: string;
  resource_type?: string;
  resource_id?: string;
  /** Grid column ("10" … "95", "conditions", …) or "record". */
  category?: string;
  /** self | representative | caregiver | authorised | code | medecin-traitant | designated | ETREAT | BTG | author | none */
  basis?: string;
  outcome: 'allow' | 'deny' | string;
  /** The rule that refused ("blocked", "grid", …), "allowed" otherwise. */
  reason?: string;
  purpose?: string;
  emergency?: boolean;
  /** Entries grouped into one (several reads of the same kind). */
  count?: number;
}

export interface LogPage {
  entries: LogEntry[];
  next_before: number | null;
}

export interface LogFilter {
  outcome?: 'allow' | 'deny';
  emergency?: boolean;
  since?: Micros;
  until?: Micros;
  before?: number;
  limit?: number;
}

export interface Emergency {
  id: string;
  professional_name: string;
  kind: 'BTG' | 'ETREAT' | string;
  reason?: string;
  opened_at: Micros;
  until: Micros;
}

export interface ReachablePatient {
  patient_id: string;
  name: string;
  basis: string;
  until?: Micros | null;
}

export type GridValue = 'Y' | 'N' | 'P';
/** profession code → column → value. */
export type GridTable = Record<string, Record<string, GridValue | string>>;

export interface GridVersion {
  version: number;
  created_at?: Micros;
  created_by?: string;
}

export interface GridAnswer extends GridVersion {
  grid: { professions: GridTable };
}

/** The grid's columns, in the order of the issue (DMP classes, then profile resources). */
export const GRID_COLUMNS = ['10', '11', '31', '42', '43', '44', '45', '52', '60', '90', '95', 'conditions', 'allergies', 'treatments', 'immunizations', 'measurements'] as const;

const enc = encodeURIComponent;
const rec = (pid: string) => `/access/records/${enc(pid)}`;

function logQuery(f: LogFilter): string {
  return query({
    outcome: f.outcome,
    emergency: f.emergency ? '1' : undefined,
    since: f.since !== undefined ? String(f.since) : undefined,
    until: f.until !== undefined ? String(f.until) : undefined,
    before: f.before !== undefined ? String(f.before) : undefined,
    limit: f.limit !== undefined ? String(f.limit) : undefined,
  });
}

export const access = {
  // ---- the holder (or a legal representative of a minor) ----
  settings: (pid: string, signal?: AbortSignal) => call<AccessSettings>('GET', `${rec(pid)}/settings`, undefined, { signal }),
  setSettings: (pid: string, change: Partial<AccessSettings>) => call<AccessSettings>('PUT', `${rec(pid)}/settings`, change),
  professionals: (pid: string, signal?: AbortSignal) => call<RecordProfessional[]>('GET', `${rec(pid)}/professionals`, undefined, { signal }),
  setProfessional: (pid: string, account: string, change: { status?: ProStatus; roles?: string[] }) =>
    call<RecordProfessional>('PUT', `${rec(pid)}/professionals/${enc(account)}`, change),
  removeProfessional: (pid: string, account: string) => call<void>('DELETE', `${rec(pid)}/professionals/${enc(account)}`),
  createCode: (pid: string) => call<NewCode>('POST', `${rec(pid)}/codes`, {}),
  codes: (pid: string, signal?: AbortSignal) => call<AccessCode[]>('GET', `${rec(pid)}/codes`, undefined, { signal }),
  revokeCode: (pid: string, id: string) => call<void>('DELETE', `${rec(pid)}/codes/${enc(id)}`),
  documents: (pid: string, signal?: AbortSignal) => call<RecordDocument[]>('GET', `${rec(pid)}/documents`, undefined, { signal }),
  setMasked: (pid: string, type: string, id: string, masked: boolean) =>
    call<void>('PUT', `${rec(pid)}/documents/${enc(type)}/${enc(id)}`, { masked }),
  log: (pid: string, f: LogFilter = {}, signal?: AbortSignal) => call<LogPage>('GET', `${rec(pid)}/log${logQuery(f)}`, undefined, { signal }),
  emergencies: (pid: string, signal?: AbortSignal) => call<Emergency[]>('GET', `${rec(pid)}/emergencies`, undefined, { signal }),

  // ---- professionals ----
  redeem: (ins: string, code: string) => call<{ patient_id: string; name: string }>('POST', '/access/codes/redeem', { ins, code }),
  /** BTG: a reason of ≥ 10 characters and an authentication within 5 minutes (else 403 needs-fresh-auth). */
  breakTheGlass: (pid: string, reason: string) => call<{ until: Micros }>('POST', `${rec(pid)}/emergency`, { purpose: 'BTG', reason }),
  patients: (signal?: AbortSignal) => call<ReachablePatient[]>('GET', '/access/patients', undefined, { signal }),
  ownLog: (f: LogFilter = {}, signal?: AbortSignal) => call<LogPage>('GET', `/access/log${logQuery(f)}`, undefined, { signal }),

  // ---- the grid (admins edit; anyone signed in reads) ----
  grid: (signal?: AbortSignal) => call<GridAnswer>('GET', '/access/grid', undefined, { signal }),
  gridVersions: (signal?: AbortSignal) => call<GridVersion[]>('GET', '/access/grid/versions', undefined, { signal }),
  saveGrid: (professions: GridTable) => call<GridAnswer | GridVersion>('PUT', '/access/grid', { professions }),
};

/** "ABCDEFGHJK" → "ABCD-EFGH-JK" (the code as printed: groups of 4, then the rest). */
export function groupCode(code: string): string {
  const s = code.replace(/[\s-]/g, '').toUpperCase();
  return s.replace(/(.{4})(?=.)/g, '$1-');
}

/** The code as the server expects it: upper case, grouped; O → 0, I/L → 1 (Crockford). */
export function normalizeAccessCode(text: string): string {
  const s = text.replace(/[\s-]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  return groupCode(s);
}

/** Whether the server refused because the identity check is too old (403 needs-fresh-auth). */
export function needsFreshAuth(err: unknown): boolean {
  const e = err as { status?: number; outcome?: { issue?: { code?: string; diagnostics?: string; details?: { coding?: { code?: string }[]; text?: string } }[] } };
  if (e?.status !== 403) return false;
  const issues = e.outcome?.issue ?? [];
  return issues.some((i) =>
    [i.code, i.diagnostics, i.details?.text, ...(i.details?.coding ?? []).map((c) => c.code)].some((v) => typeof v === 'string' && /needs-fresh-auth|fresh|identit/i.test(v)),
  );
}
