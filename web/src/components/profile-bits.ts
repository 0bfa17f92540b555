// The medical profile in plain words, shared by the profile page and its printable summary:
// what an entry says (from its FHIR resource: never from a narrative's HTML), its date, who
// wrote it, and the vaccination booklet's statuses (a mark and a word, never colour alone).
import { h } from '../dom';
import { formatDate, formatNumber, isMessageKey, t, type MessageKey } from '../i18n';
import { fromBase64, LOINC, SYSTEMS, type BookletStatus, type Concept, type ProfileEntry, type ProfileResource, type Quantity, type SectionKey } from '../api/profile';

/**
 * Who reads the profile: the patient (or someone acting for the record) or a professional.
 * The page is the same; a few sentences change ("vos volontés" → "les volontés du patient").
 */
export type Side = 'patient' | 'professional';

/**
 * The words of `key` for this side: a professional reads `profile.pro.…` where there is one
 * (the patient's sentences say "vous" for the patient), the shared sentence otherwise.
 */
export function sided(side: Side, key: MessageKey, params?: Record<string, string | number>): string {
  if (side === 'professional') {
    const pro = key.replace(/^profile\./, 'profile.pro.');
    if (isMessageKey(pro)) return t(pro, params);
  }
  return t(key, params);
}

/** "Allergies", "Groupe sanguin"… */
export function sectionTitle(key: SectionKey): string {
  return t(`profile.section.${key}` as MessageKey);
}

/** CodeableConcept.text, else the first coding's display, else its code. */
export function conceptText(cc: Concept | undefined): string {
  if (!cc) return '';
  if (cc.text?.trim()) return cc.text.trim();
  for (const c of cc.coding ?? []) if (c.display?.trim()) return c.display.trim();
  return cc.coding?.find((c) => c.code)?.code ?? '';
}

const codes = (cc: Concept | undefined) => (cc?.coding ?? []).map((c) => c.code ?? '');
const hasCode = (cc: Concept | undefined, code: string) => codes(cc).includes(code);
const lookup = (prefix: string, code: string | undefined, fallback = code ?? '', side: Side = 'patient') => {
  const key = `${prefix}.${code ?? ''}`;
  return code && isMessageKey(key) ? sided(side, key) : fallback;
};

/** "kg", "cm", "mm Hg": UCUM units as people write them. */
export function unitText(unit: string | undefined): string {
  if (!unit) return '';
  const u = unit.replace(/^\[|\]$/g, '');
  return ({ 'mm[Hg]': 'mm Hg', 'mmHg': 'mm Hg', 'lb_av': 'lb', 'in_i': 'in', 'kg/m2': 'kg/m²' } as Record<string, string>)[unit] ?? u;
}

export function quantityText(q: Quantity | undefined): string {
  if (!q || typeof q.value !== 'number') return '';
  const unit = unitText(q.unit ?? q.code);
  return unit ? `${formatNumber(q.value)} ${unit}` : formatNumber(q.value);
}

/** The date an entry is about (onset, effective, occurrence…), as written; '' when it has none. */
export function clinicalDate(r: ProfileResource): string {
  switch (r.resourceType) {
    case 'Observation':
      return r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued ?? '';
    case 'Condition':
      return r.onsetDateTime ?? r.recordedDate ?? '';
    case 'FamilyMemberHistory':
      return r.date ?? '';
    case 'AllergyIntolerance':
      return r.onsetDateTime ?? r.recordedDate ?? '';
    case 'MedicationStatement':
      return r.effectivePeriod?.start ?? r.effectiveDateTime ?? r.dateAsserted ?? '';
    case 'MedicationDispense':
      return r.whenHandedOver ?? r.whenPrepared ?? '';
    case 'Immunization':
      return r.occurrenceDateTime ?? r.recorded ?? '';
    case 'Encounter':
      return r.period?.start ?? '';
    case 'Procedure':
      return r.performedDateTime ?? r.performedPeriod?.start ?? '';
    case 'Consent':
      return r.dateTime ?? '';
    default:
      return '';
  }
}

/** The last update in words: an ISO dateTime or microseconds since the epoch. */
export function updatedText(updated: string | number | undefined): string {
  if (updated === undefined || updated === '') return '';
  if (typeof updated === 'number') return formatDate(new Date(Math.floor(updated / 1000)).toISOString());
  return formatDate(updated);
}

/** "12 mars 2026", or "enregistré le 3 avril 2026" when the entry has no date of its own. */
export function entryDateText(e: ProfileEntry): string {
  const d = clinicalDate(e.resource);
  if (d) return formatDate(d);
  const u = updatedText(e.updated);
  return u ? t('profile.recordedOn', { date: u }) : '';
}

/** "Vous", "Dr Marie Martin", "Assurance Maladie". */
export function authorText(e: ProfileEntry): string {
  if (e.own) return t('profile.you');
  const kind = e.author?.kind;
  if (kind === 'insurer') return t('profile.insurer');
  if (e.author?.name) return e.author.name;
  if (kind === 'professional') return t('profile.aProfessional');
  if (kind === 'system') return t('profile.imported');
  return t('profile.someone');
}

/** Why an entry has no "Modifier" button, when it is someone else's. */
export function lockedText(e: ProfileEntry, side: Side = 'patient'): string | undefined {
  if (e.editable) return undefined;
  const kind = e.author?.kind;
  if (kind === 'insurer') return sided(side, 'profile.locked.insurer');
  if (side === 'professional') {
    // A professional reads the record of someone else: whose entry it is says why.
    if (e.own) return t('profile.locked.other');
    if (kind === 'professional') return t('profile.pro.locked.professional');
    if (kind === 'patient') return t('profile.pro.locked.patient');
    return t('profile.locked.other');
  }
  if (kind === 'professional') return t('profile.locked.professional');
  return t('profile.locked.other');
}

export interface EntryView {
  title: string;
  details: string[];
  /** A longer text shown as a paragraph (advance directives). */
  body?: string;
  /** The details already say when (a stay "du … au …"): the date is not repeated. */
  dated?: boolean;
}

function observationView(r: ProfileResource, side: Side): EntryView {
  const code = r.code;
  let name = conceptText(code) || t('record.untitled');
  let value = quantityText(r.valueQuantity) || conceptText(r.valueCodeableConcept) || r.valueString || '';
  if (hasCode(code, LOINC.weight)) name = t('profile.measure.weight');
  else if (hasCode(code, LOINC.height)) name = t('profile.measure.height');
  else if (hasCode(code, LOINC.bloodGroup)) name = t('profile.section.blood_group');
  else if (hasCode(code, 'organ-donation')) {
    name = t('profile.section.organ_donation');
    const choice = r.valueCodeableConcept?.coding?.[0]?.code;
    value = lookup('profile.organ', choice, conceptText(r.valueCodeableConcept), side);
  } else if (hasCode(code, LOINC.bloodPressure) || hasCode(code, '55284-4')) name = t('profile.measure.blood_pressure');
  if (!value && r.component?.length) {
    const sys = r.component.find((c) => hasCode(c.code, LOINC.systolic))?.valueQuantity;
    const dia = r.component.find((c) => hasCode(c.code, LOINC.diastolic))?.valueQuantity;
    if (typeof sys?.value === 'number' && typeof dia?.value === 'number') {
      value = `${formatNumber(sys.value)} / ${formatNumber(dia.value)} ${unitText(sys.unit ?? sys.code) || 'mm Hg'}`;
    } else {
      value = r.component.map((c) => [conceptText(c.code), quantityText(c.valueQuantity)].filter(Boolean).join(' ')).join(' · ');
    }
  }
  const notes = (r.note ?? []).map((n) => n.text?.trim()).filter((s): s is string => !!s);
  return { title: value ? t('profile.nameValue', { name, value }) : name, details: notes };
}

/** What one entry says: a title and a few details, from its resource only. */
export function describe(r: ProfileResource, side: Side = 'patient'): EntryView {
  const untitled = t('record.untitled');
  switch (r.resourceType) {
    case 'Observation':
      return observationView(r, side);
    case 'Condition': {
      const status = r.clinicalStatus?.coding?.[0]?.code;
      return { title: conceptText(r.code) || untitled, details: [status ? lookup('profile.conditionStatus', status) : ''].filter(Boolean) };
    }
    case 'FamilyMemberHistory': {
      const rel = Array.isArray(r.relationship) ? r.relationship[0] : r.relationship;
      const relCode = rel?.coding?.[0]?.code;
      const who = lookup('profile.relation', relCode, conceptText(rel)) || t('profile.relative');
      const what = (r.condition ?? []).map((c) => conceptText(c.code)).filter(Boolean).join(', ');
      return { title: what ? t('profile.nameValue', { name: who, value: what }) : who, details: [] };
    }
    case 'AllergyIntolerance': {
      const status = r.clinicalStatus?.coding?.[0]?.code;
      const reaction = (r.reaction ?? []).flatMap((x) => x.manifestation ?? []).map(conceptText).filter(Boolean).join(', ');
      return {
        title: conceptText(r.code) || untitled,
        details: [
          reaction ? t('profile.reaction', { text: reaction }) : '',
          r.criticality && r.criticality !== 'unable-to-assess' ? lookup('profile.criticality', r.criticality) : '',
          status ? lookup('profile.allergyStatus', status) : '',
        ].filter(Boolean),
      };
    }
    case 'MedicationStatement':
    case 'MedicationDispense': {
      const name = conceptText(r.medicationCodeableConcept) || r.medicationReference?.display || untitled;
      const dosage = [...(r.dosage ?? []), ...(r.dosageInstruction ?? [])].map((d) => d.text?.trim()).filter(Boolean).join(' · ');
      const details = [dosage];
      if (r.resourceType === 'MedicationStatement' && r.status) details.push(lookup('profile.treatmentStatus', r.status));
      if (r.resourceType === 'MedicationDispense' && r.quantity?.value !== undefined) details.push(t('profile.quantity', { text: quantityText(r.quantity) }));
      return { title: name, details: details.filter(Boolean) };
    }
    case 'Immunization':
      return {
        title: conceptText(r.vaccineCode) || untitled,
        details: [r.lotNumber ? t('profile.lot', { lot: r.lotNumber }) : '', r.status && r.status !== 'completed' ? lookup('profile.immunizationStatus', r.status) : ''].filter(Boolean),
      };
    case 'Encounter': {
      const place = r.serviceProvider?.display?.trim();
      const reason = (r.reasonCode ?? []).map(conceptText).filter(Boolean).join(', ');
      const start = r.period?.start;
      const end = r.period?.end;
      const when = start && end && end.slice(0, 10) !== start.slice(0, 10) ? t('profile.fromTo', { from: formatDate(start), to: formatDate(end) }) : '';
      return { title: place || t('profile.stay'), details: [reason, when].filter(Boolean), dated: !!when };
    }
    case 'Procedure':
      return { title: conceptText(r.code) || untitled, details: [] };
    case 'Consent': {
      const text = fromBase64(r.sourceAttachment?.data).trim();
      return { title: r.sourceAttachment?.title?.trim() || t('profile.section.advance_directives'), details: [], body: text || undefined };
    }
    case 'RelatedPerson': {
      const rels = Array.isArray(r.relationship) ? r.relationship : r.relationship ? [r.relationship] : [];
      const trusted = rels.some((c) => c.coding?.some((x) => x.system === SYSTEMS.profile && x.code === 'trusted-person'));
      const emergency = rels.some((c) => c.coding?.some((x) => x.code === 'C'));
      const role = trusted ? t('profile.contact.trusted') : emergency ? t('profile.contact.emergency') : rels.map(conceptText).filter(Boolean).join(', ');
      const name = r.name?.[0]?.text?.trim() || [...(r.name?.[0]?.given ?? []), r.name?.[0]?.family ?? ''].join(' ').trim() || untitled;
      const phones = (r.telecom ?? []).filter((x) => x.value).map((x) => (x.system === 'phone' || !x.system ? t('profile.phone', { phone: x.value ?? '' }) : x.value ?? ''));
      return { title: name, details: [role, ...phones].filter(Boolean) };
    }
    default:
      return { title: conceptText(r.code) || r.resourceType, details: [] };
  }
}

/** One line of text for an entry (the summary's list, confirmations). */
export function oneLine(r: ProfileResource): string {
  const v = describe(r);
  return [v.title, ...v.details].join(' · ');
}

const BOOKLET_MARKS: Record<BookletStatus, [string, string]> = {
  done: ['badge--ok', '✓'],
  due: ['badge--warn', '!'],
  overdue: ['badge--danger', '⚠'],
  upcoming: ['badge--info', '→'],
  'not-recorded': ['badge--muted', '–'],
};

/** "✓ Fait", "⚠ En retard"…: a mark and a word on a tinted badge. */
export function bookletBadge(status: string): HTMLElement {
  const [tone, mark] = BOOKLET_MARKS[status as BookletStatus] ?? ['badge--muted', '–'];
  return h(
    'span',
    { class: ['badge', 'booklet__badge', tone], 'data-status': status },
    h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, mark),
    bookletStatusText(status),
  );
}

export function bookletStatusText(status: string): string {
  return lookup('profile.booklet.status', status, status);
}

/** "diphtérie", "coqueluche"… an antigen in words (its code when unknown). */
export function antigenText(code: string): string {
  return lookup('profile.antigen', code, code);
}

/** The IPS section titles (LOINC), in French first. */
export function summarySectionTitle(code: string | undefined, fallback: string | undefined): string {
  return lookup('profile.ips', code, fallback || t('record.untitled'));
}
