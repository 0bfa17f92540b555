// The medical profile (docs/PROFILE.md): one route assembles it for the portal, and its
// entries are ordinary FHIR resources written with the templates of PROFILE.md's table.
//
//   const p = await profile.load(pid, signal);                    // GET /records/{pid}/profile
//   await profile.create(profile.build('allergies', pid, { text: 'Pollen', status: 'active' }));
//   await profile.update(entry, profile.build('allergies', pid, values));   // PUT + If-Match
//   await profile.remove(entry);                                  // DELETE /fhir/{Type}/{id}
//   const bundle = await profile.summary(pid, signal);            // the IPS document Bundle
//
// The session cookie and X-CSRF-Token authenticate, as on the documents page. Errors are
// FhirError (api/fhir.ts), with the server's diagnostics.
import { FhirError, FHIR_JSON, isOutcome } from './fhir';
import { csrfHeaders } from './auth';
import { notifyUnauthorized } from './hooks';

/** The sections, in the order the portal shows them (PROFILE.md's table). */
export const SECTION_KEYS = [
  'blood_group',
  'organ_donation',
  'lifestyle',
  'measurements',
  'disability',
  'conditions',
  'family_history',
  'allergies',
  'treatments',
  'dispensations',
  'vaccinations',
  'stays',
  'procedures',
  'advance_directives',
  'contacts',
] as const;
export type SectionKey = (typeof SECTION_KEYS)[number];

/** Sections the portal has a form for (the insurer's dispensations are read-only). */
export const WRITABLE: ReadonlySet<SectionKey> = new Set(SECTION_KEYS.filter((s) => s !== 'dispensations'));

export const SYSTEMS = {
  loinc: 'http://loinc.org',
  ucum: 'http://unitsofmeasure.org',
  obsCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  roleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  contactRole: 'http://terminology.hl7.org/CodeSystem/v2-0131',
  profile: 'https://carnet.health/fhir/CodeSystem/profile',
  vaccine: 'https://carnet.health/fhir/CodeSystem/vaccine',
} as const;

export const LOINC = {
  bloodGroup: '882-1',
  height: '8302-2',
  weight: '29463-7',
  bloodPressure: '85354-9',
  systolic: '8480-6',
  diastolic: '8462-4',
  advanceDirective: '42348-3',
} as const;

// ---------- the shapes of GET /records/{pid}/profile ----------

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
export interface Concept {
  coding?: Coding[];
  text?: string;
}
export interface Quantity {
  value?: number;
  unit?: string;
  code?: string;
  system?: string;
}

/** The fields of the profile's resources the portal reads or writes (all optional, as in FHIR). */
export interface ProfileResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string };
  status?: string;
  code?: Concept;
  category?: Concept[];
  subject?: { reference?: string };
  patient?: { reference?: string };
  effectiveDateTime?: string;
  effectivePeriod?: { start?: string; end?: string };
  issued?: string;
  valueQuantity?: Quantity;
  valueCodeableConcept?: Concept;
  valueString?: string;
  component?: { code?: Concept; valueQuantity?: Quantity }[];
  note?: { text?: string }[];
  clinicalStatus?: Concept;
  onsetDateTime?: string;
  recordedDate?: string;
  abatementDateTime?: string;
  date?: string;
  relationship?: Concept | Concept[];
  condition?: { code?: Concept }[];
  criticality?: string;
  reaction?: { manifestation?: Concept[] }[];
  medicationCodeableConcept?: Concept;
  medicationReference?: { display?: string };
  dosage?: { text?: string }[];
  dosageInstruction?: { text?: string }[];
  dateAsserted?: string;
  whenHandedOver?: string;
  whenPrepared?: string;
  quantity?: Quantity;
  vaccineCode?: Concept;
  occurrenceDateTime?: string;
  recorded?: string;
  lotNumber?: string;
  class?: Coding;
  period?: { start?: string; end?: string };
  serviceProvider?: { display?: string };
  reasonCode?: Concept[];
  performedDateTime?: string;
  performedPeriod?: { start?: string; end?: string };
  scope?: Concept;
  dateTime?: string;
  policyRule?: Concept;
  sourceAttachment?: { contentType?: string; title?: string; data?: string };
  name?: { text?: string; given?: string[]; family?: string }[];
  telecom?: { system?: string; value?: string }[];
  active?: boolean;
  birthDate?: string;
  gender?: string;
  /** A Composition's */
  title?: string;
  section?: CompositionSection[];
  author?: { display?: string; reference?: string }[];
}

export interface CompositionSection {
  title?: string;
  code?: Concept;
  entry?: { reference?: string; display?: string }[];
  emptyReason?: Concept;
  text?: { div?: string };
}

export type AuthorKind = 'patient' | 'professional' | 'insurer' | 'system';

export interface ProfileEntry {
  type: string;
  id: string;
  version: string | number;
  /** The last update (PROFILE.md does not fix its form: an ISO dateTime, or microseconds). */
  updated?: string | number;
  resource: ProfileResource;
  author?: { kind?: AuthorKind | string; name?: string };
  own?: boolean;
  editable?: boolean;
}

export type BookletStatus = 'done' | 'due' | 'overdue' | 'upcoming' | 'not-recorded';

export interface BookletLine {
  item: string;
  vaccine: string;
  label: string;
  dose: number;
  due?: string;
  overdue?: string;
  status: BookletStatus | string;
  given?: string;
  immunizations?: string[];
  missing?: string[];
}

export interface Vaccine {
  code: string;
  label: string;
  antigens?: string[];
}

export interface Bmi {
  value: number;
  date: string;
  height_cm?: number;
  weight_kg?: number;
}

export interface Series {
  weight?: { date: string; value: number; bmi?: number | null }[];
  height?: { date: string; value: number }[];
  blood_pressure?: { date: string; systolic: number; diastolic: number }[];
}

export interface Profile {
  patient: { id: string; name?: string; birth_date?: string; age?: number; minor?: boolean; gender?: string };
  sections: Partial<Record<SectionKey, ProfileEntry[]>>;
  can_add: Partial<Record<SectionKey, boolean>>;
  /** `null`: left out (not part of docs/PROFILE.md today; shown as no booklet). */
  booklet?: BookletLine[] | null;
  vaccines?: Vaccine[];
  bmi?: Bmi | null;
  series?: Series;
  withheld?: boolean;
}

/** The IPS document Bundle of GET /fhir/Patient/{pid}/$summary. */
export interface SummaryBundle {
  resourceType: 'Bundle';
  type?: string;
  timestamp?: string;
  entry?: { fullUrl?: string; resource?: ProfileResource }[];
}

// ---------- transport ----------

async function send(path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', ...init });
  } catch (err) {
    if (init.signal?.aborted) throw new FhirError('aborted', 0, 'aborted');
    throw new FhirError('network', 0, err instanceof Error ? err.message : String(err));
  }
  if (!res.ok) {
    if (res.status === 401) notifyUnauthorized();
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      /* not JSON */
    }
    throw new FhirError('http', res.status, `HTTP ${res.status}`, isOutcome(body) ? body : undefined);
  }
  return res;
}

async function readJson<T>(res: Response): Promise<T> {
  try {
    return (await res.json()) as T;
  } catch {
    throw new FhirError('parse', res.status, 'unreadable response');
  }
}

const enc = encodeURIComponent;

/** W/"3" for version 3 (a version given as an ETag already is kept). */
export function etag(version: string | number): string {
  const v = String(version);
  return v.startsWith('W/') || v.startsWith('"') ? v : `W/"${v}"`;
}

export const profile = {
  /** The profile of the record, as this caller may read it (404: a record they may not open). */
  async load(pid: string, signal?: AbortSignal): Promise<Profile> {
    const res = await send(`/records/${enc(pid)}/profile`, { signal, headers: { Accept: 'application/json' } });
    const p = await readJson<Profile>(res);
    if (!p || typeof p !== 'object' || !p.sections) throw new FhirError('parse', res.status, 'unexpected profile');
    return p;
  },

  /** POST /fhir/{Type}: a new entry; answers the stored resource. */
  async create(resource: ProfileResource): Promise<ProfileResource> {
    const res = await send(`/fhir/${enc(resource.resourceType)}`, {
      method: 'POST',
      headers: { Accept: FHIR_JSON, 'Content-Type': FHIR_JSON, ...csrfHeaders() },
      body: JSON.stringify(resource),
    });
    return res.status === 204 ? resource : readJson<ProfileResource>(res);
  },

  /** PUT /fhir/{Type}/{id} with If-Match: a change made meanwhile answers 412. */
  async update(entry: Pick<ProfileEntry, 'type' | 'id' | 'version'>, resource: ProfileResource): Promise<ProfileResource> {
    const body = { ...resource, id: entry.id };
    const res = await send(`/fhir/${enc(entry.type)}/${enc(entry.id)}`, {
      method: 'PUT',
      headers: { Accept: FHIR_JSON, 'Content-Type': FHIR_JSON, 'If-Match': etag(entry.version), ...csrfHeaders() },
      body: JSON.stringify(body),
    });
    return res.status === 204 ? body : readJson<ProfileResource>(res);
  },

  /** DELETE /fhir/{Type}/{id}. */
  async remove(entry: Pick<ProfileEntry, 'type' | 'id'>): Promise<void> {
    await send(`/fhir/${enc(entry.type)}/${enc(entry.id)}`, { method: 'DELETE', headers: { Accept: FHIR_JSON, ...csrfHeaders() } });
  },

  /** GET /fhir/Patient/{pid}/$summary: the International Patient Summary (a document Bundle). */
  async summary(pid: string, signal?: AbortSignal): Promise<SummaryBundle> {
    const res = await send(`/fhir/Patient/${enc(pid)}/$summary`, { signal, headers: { Accept: FHIR_JSON } });
    const b = await readJson<SummaryBundle>(res);
    if (!b || b.resourceType !== 'Bundle') throw new FhirError('parse', res.status, 'not a Bundle');
    return b;
  },

  build,
};

// ---------- the templates of PROFILE.md ----------

/** Form values by field name (trimmed strings; "" when empty). */
export type Values = Record<string, string>;

const ref = (pid: string) => ({ reference: `Patient/${pid}` });
const coding = (system: string, code: string, display?: string): Coding => (display ? { system, code, display } : { system, code });
const quantity = (value: number, unit: string) => ({ value, unit, system: SYSTEMS.ucum, code: unit });
/** "67,8" as a person types it in French → 67.8 */
export function parseNumber(text: string): number {
  const s = text.trim().replace(/\s/g, '').replace(',', '.');
  return /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
}
const opt = <T>(value: string | undefined, make: (v: string) => T): T | undefined => (value ? make(value) : undefined);

/** UTF-8 text → base64 (a Consent's sourceAttachment.data). */
export function toBase64(text: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** base64 → UTF-8 text ('' when it is not valid base64). */
export function fromBase64(data: string | undefined): string {
  if (!data) return '';
  try {
    const bin = atob(data);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return '';
  }
}

export const FAMILY_RELATIONS = ['FTH', 'MTH', 'SIB', 'GRFTH', 'GRMTH', 'CHILD', 'UNCLE', 'AUNT'] as const;
export const BLOOD_GROUPS = ['A+', 'A−', 'B+', 'B−', 'AB+', 'AB−', 'O+', 'O−'] as const;

/** Drops the keys whose value is undefined (JSON.stringify would too; kept tidy for tests). */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * The resource a form's values make, for a section: the templates of PROFILE.md.
 * `labels` gives the words stored beside codes (a relationship's text, a vaccine's label).
 */
function build(section: SectionKey, pid: string, v: Values, labels: Record<string, string> = {}): ProfileResource {
  switch (section) {
    case 'blood_group':
      return clean({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [coding(SYSTEMS.loinc, LOINC.bloodGroup, 'ABO and Rh group [Type] in Blood')], text: 'Groupe sanguin' },
        subject: ref(pid),
        effectiveDateTime: v.date || undefined,
        valueCodeableConcept: { text: v.group },
      });
    case 'organ_donation':
      return clean({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [coding(SYSTEMS.profile, 'organ-donation')], text: 'Don d’organes' },
        subject: ref(pid),
        effectiveDateTime: v.date || undefined,
        valueCodeableConcept: { coding: [coding(SYSTEMS.profile, v.choice ?? '')], text: labels.choice ?? v.choice },
        note: opt(v.note, (text) => [{ text }]),
      });
    case 'lifestyle':
      return clean({
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [coding(SYSTEMS.obsCategory, 'social-history')] }],
        code: { text: v.topic },
        subject: ref(pid),
        effectiveDateTime: v.date || undefined,
        valueString: v.value,
      });
    case 'measurements': {
      const base = {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [coding(SYSTEMS.obsCategory, 'vital-signs', 'Vital Signs')] }],
        subject: ref(pid),
        effectiveDateTime: v.date,
      };
      if (v.kind === 'height') {
        return { ...base, code: { coding: [coding(SYSTEMS.loinc, LOINC.height, 'Body height')], text: 'Taille' }, valueQuantity: quantity(parseNumber(v.value ?? ''), 'cm') };
      }
      if (v.kind === 'blood_pressure') {
        return {
          ...base,
          code: { coding: [coding(SYSTEMS.loinc, LOINC.bloodPressure, 'Blood pressure panel with all children optional')], text: 'Tension artérielle' },
          component: [
            { code: { coding: [coding(SYSTEMS.loinc, LOINC.systolic, 'Systolic blood pressure')], text: 'Systolique' }, valueQuantity: quantity(parseNumber(v.systolic ?? ''), 'mm[Hg]') },
            { code: { coding: [coding(SYSTEMS.loinc, LOINC.diastolic, 'Diastolic blood pressure')], text: 'Diastolique' }, valueQuantity: quantity(parseNumber(v.diastolic ?? ''), 'mm[Hg]') },
          ],
        };
      }
      return { ...base, code: { coding: [coding(SYSTEMS.loinc, LOINC.weight, 'Body weight')], text: 'Poids' }, valueQuantity: quantity(parseNumber(v.value ?? ''), 'kg') };
    }
    case 'disability':
      return {
        resourceType: 'Condition',
        category: [{ coding: [coding(SYSTEMS.profile, 'disability')], text: 'Handicap' }],
        code: { text: v.text },
        subject: ref(pid),
      };
    case 'conditions':
      return clean({
        resourceType: 'Condition',
        clinicalStatus: { coding: [coding(SYSTEMS.conditionClinical, v.status || 'active')] },
        category: [{ coding: [coding(SYSTEMS.conditionCategory, 'problem-list-item')] }],
        code: { text: v.text },
        subject: ref(pid),
        onsetDateTime: v.date || undefined,
      });
    case 'family_history':
      return {
        resourceType: 'FamilyMemberHistory',
        status: 'completed',
        patient: ref(pid),
        relationship: { coding: [coding(SYSTEMS.roleCode, v.relation ?? '')], text: labels.relation ?? v.relation },
        condition: [{ code: { text: v.text } }],
      };
    case 'allergies':
      return clean({
        resourceType: 'AllergyIntolerance',
        clinicalStatus: { coding: [coding(SYSTEMS.allergyClinical, v.status || 'active')] },
        code: { text: v.text },
        patient: ref(pid),
        criticality: v.criticality || undefined,
        reaction: opt(v.reaction, (text) => [{ manifestation: [{ text }] }]),
      });
    case 'treatments':
      return clean({
        resourceType: 'MedicationStatement',
        status: v.status || 'active',
        medicationCodeableConcept: { text: v.text },
        subject: ref(pid),
        dosage: opt(v.dosage, (text) => [{ text }]),
        effectivePeriod: opt(v.date, (start) => ({ start })),
      });
    case 'dispensations':
      throw new Error('dispensations are read-only');
    case 'vaccinations':
      return clean({
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: { coding: [coding(SYSTEMS.vaccine, v.vaccine ?? '', labels.vaccine)], text: labels.vaccine ?? v.vaccine },
        patient: ref(pid),
        occurrenceDateTime: v.date,
        lotNumber: v.lot || undefined,
      });
    case 'stays':
      return clean({
        resourceType: 'Encounter',
        status: 'finished',
        class: coding(SYSTEMS.actCode, 'IMP', 'inpatient encounter'),
        subject: ref(pid),
        period: clean({ start: v.start, end: v.end || undefined }),
        serviceProvider: opt(v.place, (display) => ({ display })),
        reasonCode: opt(v.reason, (text) => [{ text }]),
      });
    case 'procedures':
      return {
        resourceType: 'Procedure',
        status: 'completed',
        code: { text: v.text },
        subject: ref(pid),
        performedDateTime: v.date,
      };
    case 'advance_directives':
      return {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [coding(SYSTEMS.consentScope, 'adr', 'Advanced Care Directive')] },
        category: [{ coding: [coding(SYSTEMS.loinc, LOINC.advanceDirective, 'Advance directives')] }],
        patient: ref(pid),
        dateTime: v.date,
        policyRule: { text: 'Directives anticipées' },
        sourceAttachment: { contentType: 'text/plain', title: v.title, data: toBase64(v.text ?? '') },
      };
    case 'contacts':
      return clean({
        resourceType: 'RelatedPerson',
        active: true,
        patient: ref(pid),
        relationship: [
          v.role === 'emergency'
            ? { coding: [coding(SYSTEMS.contactRole, 'C', 'Emergency Contact')], text: labels.role }
            : { coding: [coding(SYSTEMS.profile, 'trusted-person')], text: labels.role },
        ],
        name: [{ text: v.name }],
        telecom: opt(v.phone, (value) => [{ system: 'phone', value }]),
      });
  }
}
