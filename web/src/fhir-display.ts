// Turning FHIR resources into the plain words a person reads. No jargon: codes are never
// shown when a human text exists.
import type {
  CodeableConcept,
  Condition,
  DocumentReference,
  Encounter,
  HumanName,
  Immunization,
  MedicationRequest,
  Observation,
  Patient,
  Quantity,
} from './api/fhir';
import { formatNumber, isMessageKey, t } from './i18n';

/** CodeableConcept.text, else the first coding's display, else its code. */
export function conceptText(cc: CodeableConcept | undefined): string | undefined {
  if (!cc) return undefined;
  if (cc.text?.trim()) return cc.text.trim();
  for (const c of cc.coding ?? []) if (c.display?.trim()) return c.display.trim();
  return cc.coding?.find((c) => c.code)?.code;
}

function pickName(names: HumanName[] | undefined): HumanName | undefined {
  if (!names?.length) return undefined;
  return (
    names.find((n) => n.use === 'official') ??
    names.find((n) => n.use === 'usual') ??
    names.find((n) => n.use !== 'old' && n.use !== 'maiden') ??
    names[0]
  );
}

/** "Given Family" as a person writes it (prefixes such as "Mr." left out). */
export function patientName(p: Patient): string {
  const n = pickName(p.name);
  if (!n) return t('demo.unnamed');
  if (n.text?.trim()) return n.text.trim();
  const parts = [...(n.given ?? []), n.family ?? ''].map((s) => s.trim()).filter(Boolean);
  return parts.length ? parts.join(' ') : t('demo.unnamed');
}

export function familyName(p: Patient): string {
  return pickName(p.name)?.family ?? '';
}

export function initials(name: string): string {
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/[^\p{L}]/gu, '')[0] ?? '')
    .filter(Boolean);
  if (!letters.length) return '?';
  return (letters[0]! + (letters.length > 1 ? letters[letters.length - 1]! : '')).toUpperCase();
}

export function genderLabel(g: Patient['gender']): string {
  switch (g) {
    case 'male':
      return t('gender.male');
    case 'female':
      return t('gender.female');
    case 'other':
      return t('gender.other');
    default:
      return t('gender.unknown');
  }
}

export function statusLabel(code: string | undefined): string | undefined {
  if (!code) return undefined;
  const key = `status.${code}`;
  return isMessageKey(key) ? t(key) : code;
}

export function quantityText(q: Quantity | undefined): string | undefined {
  if (!q || typeof q.value !== 'number') return undefined;
  const unit = q.unit ?? q.code ?? '';
  return unit ? `${formatNumber(q.value)} ${unit}` : formatNumber(q.value);
}

function observationValue(o: Observation): string | undefined {
  const direct =
    quantityText(o.valueQuantity) ??
    conceptText(o.valueCodeableConcept) ??
    o.valueString ??
    (typeof o.valueInteger === 'number' ? formatNumber(o.valueInteger) : undefined);
  if (direct) return direct;
  // Blood pressure and other panels: "120 / 80 mmHg"
  const comps = (o.component ?? [])
    .map((c) => ({ q: c.valueQuantity, text: conceptText(c.valueCodeableConcept) ?? c.valueString }))
    .filter((c) => c.q?.value !== undefined || c.text);
  if (!comps.length) return undefined;
  const units = new Set(comps.map((c) => c.q?.unit).filter(Boolean));
  if (comps.every((c) => c.q?.value !== undefined) && units.size === 1) {
    return `${comps.map((c) => formatNumber(c.q!.value!)).join(' / ')} ${[...units][0]}`;
  }
  return comps.map((c) => quantityText(c.q) ?? c.text).join(' · ');
}

/** v3 ActCode encounter classes in plain words ("AMB" → "consultation"). */
export function encounterClassLabel(code: string | undefined): string | undefined {
  if (!code) return undefined;
  const key = `encounterClass.${code.toUpperCase()}`;
  return isMessageKey(key) ? t(key) : undefined;
}

/** What one line of a record section shows. */
export interface ItemView {
  title: string;
  detail?: string;
  /** FHIR date/dateTime used for display and for sorting. */
  date?: string;
}

export const RECORD_TYPES = [
  'Observation',
  'Condition',
  'Immunization',
  'Encounter',
  'MedicationRequest',
  'DocumentReference',
] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export function itemView(r: Observation | Condition | Immunization | Encounter | MedicationRequest | DocumentReference): ItemView {
  switch (r.resourceType) {
    case 'Observation':
      return {
        title: conceptText(r.code) ?? t('record.untitled'),
        detail: observationValue(r),
        date: r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued,
      };
    case 'Condition':
      return {
        title: conceptText(r.code) ?? t('record.untitled'),
        detail: statusLabel(r.clinicalStatus?.coding?.[0]?.code),
        date: r.onsetDateTime ?? r.onsetPeriod?.start ?? r.recordedDate,
      };
    case 'Immunization':
      return {
        title: conceptText(r.vaccineCode) ?? t('record.untitled'),
        detail: r.status && r.status !== 'completed' ? statusLabel(r.status) : undefined,
        date: r.occurrenceDateTime ?? r.recorded,
      };
    case 'Encounter':
      return {
        title: conceptText(r.type?.[0]) ?? conceptText(r.serviceType) ?? r.class?.display ?? t('record.untitled'),
        detail: conceptText(r.reasonCode?.[0]) ?? encounterClassLabel(r.class?.code),
        date: r.period?.start,
      };
    case 'MedicationRequest':
      return {
        title: conceptText(r.medicationCodeableConcept) ?? r.medicationReference?.display ?? t('record.untitled'),
        detail: [statusLabel(r.status), r.dosageInstruction?.[0]?.text].filter(Boolean).join(' · ') || undefined,
        date: r.authoredOn,
      };
    case 'DocumentReference':
      return {
        title: conceptText(r.type) ?? r.description ?? r.content?.[0]?.attachment?.title ?? t('record.untitled'),
        detail: conceptText(r.category?.[0]) ?? r.author?.[0]?.display,
        date: r.date ?? r.context?.period?.start,
      };
  }
}

/** Newest first; undated items last. */
export function byDateDesc(a: ItemView, b: ItemView): number {
  const ta = a.date ? Date.parse(a.date) : NaN;
  const tb = b.date ? Date.parse(b.date) : NaN;
  if (Number.isNaN(ta) && Number.isNaN(tb)) return 0;
  if (Number.isNaN(ta)) return 1;
  if (Number.isNaN(tb)) return -1;
  return tb - ta;
}
