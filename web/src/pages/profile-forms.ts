// The forms of the medical profile: one per section, each field with a visible label, a hint
// where it helps, and its own message when it is missing or not accepted (the first one gets
// the focus). The values become a resource through the templates of api/profile.ts.
// A professional fills in the same forms; the few sentences that speak to the patient
// ("Vos volontés") read for them about the patient (`Words`, from profile-bits' `sided`).
import { h } from '../dom';
import { t, type MessageKey } from '../i18n';
import { errorText, formMessages, radioGroup, selectField, textAreaField, textField, whileBusy, type Field } from '../components/form';
import { BLOOD_GROUPS, FAMILY_RELATIONS, LOINC, parseNumber, profile, SYSTEMS, fromBase64, type Profile, type ProfileEntry, type ProfileResource, type SectionKey, type Values } from '../api/profile';
import { conceptText, sided, type Side } from '../components/profile-bits';

type Kind = 'text' | 'textarea' | 'date' | 'select' | 'radio' | 'number' | 'tel';

interface FieldDef {
  name: string;
  kind: Kind;
  label: string;
  hint?: string;
  optional?: boolean;
  options?: { value: string; label: string }[];
  /** The message when the field is required and empty. */
  missing?: string;
  check?: (value: string, all: Values) => string | undefined;
  /** Shown (and checked) only when this says so. */
  when?: (all: Values) => boolean;
  value?: string;
  maxlength?: number;
  /** Dates: not after today. */
  past?: boolean;
}

/** The words of a key for the reader's side. */
type Words = (key: MessageKey, params?: Record<string, string | number>) => string;

interface FormSpec {
  /** `m`: the words for the reader's side (a professional's "allergies du patient"). */
  fields(p: Profile, m: Words): FieldDef[];
  /** Words stored beside codes (a relation's text, a vaccine's label). */
  labels?(v: Values, p: Profile, m: Words): Record<string, string>;
  /** The values of an existing entry, to edit it. */
  from(r: ProfileResource): Values;
  /** What the confirmation quotes: « Pollen ». */
  name(v: Values, p: Profile, m: Words): string;
}

const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
const day = (s: string | undefined) => (s ?? '').slice(0, 10);
const m = (key: MessageKey, params?: Record<string, string | number>) => t(key, params);

const inRange = (lo: number, hi: number, message: MessageKey) => (value: string) => {
  const n = parseNumber(value);
  return Number.isNaN(n) || n < lo || n > hi ? m(message) : undefined;
};

const dateField = (o: Partial<FieldDef> & { label: string }): FieldDef => ({ name: 'date', kind: 'date', past: true, missing: m('profile.form.dateMissing'), ...o });

const options = (prefix: string, values: readonly string[], words: Words = t) => values.map((value) => ({ value, label: words(`${prefix}.${value}` as MessageKey) }));

const MEASURE_KINDS = ['weight', 'height', 'blood_pressure'] as const;

const SPECS: Partial<Record<SectionKey, FormSpec>> = {
  blood_group: {
    fields: () => [
      { name: 'group', kind: 'select', label: m('profile.form.bloodGroup'), options: [{ value: '', label: m('profile.form.choose') }, ...BLOOD_GROUPS.map((g) => ({ value: g, label: g }))], missing: m('profile.form.bloodGroupMissing') },
      dateField({ label: m('profile.form.bloodGroupDate'), optional: true, hint: m('profile.form.bloodGroupDateHint') }),
    ],
    from: (r) => ({ group: r.valueCodeableConcept?.text ?? '', date: day(r.effectiveDateTime) }),
    name: (v) => t('profile.nameValue', { name: t('profile.section.blood_group'), value: v.group ?? '' }),
  },
  organ_donation: {
    fields: (_p, m) => [
      { name: 'choice', kind: 'radio', label: m('profile.form.organChoice'), options: options('profile.organ', ['donor', 'not-donor'], m), missing: m('profile.form.organMissing') },
      { name: 'note', kind: 'textarea', label: m('profile.form.organNote'), optional: true, maxlength: 1000, hint: m('profile.form.organNoteHint') },
      dateField({ label: m('profile.form.organDate'), value: today() }),
    ],
    labels: (v, _p, m) => ({ choice: v.choice ? m(`profile.organ.${v.choice}` as MessageKey) : '' }),
    from: (r) => ({ choice: r.valueCodeableConcept?.coding?.[0]?.code ?? '', note: r.note?.[0]?.text ?? '', date: day(r.effectiveDateTime) }),
    name: (v, _p, m) => t('profile.nameValue', { name: t('profile.section.organ_donation'), value: v.choice ? m(`profile.organ.${v.choice}` as MessageKey) : '' }),
  },
  lifestyle: {
    fields: (_p, m) => [
      { name: 'topic', kind: 'text', label: m('profile.form.lifestyleTopic'), hint: m('profile.form.lifestyleTopicHint'), maxlength: 100, missing: m('profile.form.lifestyleTopicMissing') },
      { name: 'value', kind: 'textarea', label: m('profile.form.lifestyleValue'), hint: m('profile.form.lifestyleValueHint'), maxlength: 1000, missing: m('profile.form.lifestyleValueMissing') },
      dateField({ label: m('profile.form.since'), optional: true }),
    ],
    from: (r) => ({ topic: conceptText(r.code), value: r.valueString ?? '', date: day(r.effectiveDateTime) }),
    name: (v) => v.topic ?? '',
  },
  measurements: {
    fields: () => [
      { name: 'kind', kind: 'radio', label: m('profile.form.measureKind'), options: options('profile.measure', MEASURE_KINDS), value: 'weight', missing: m('profile.form.measureKindMissing') },
      { name: 'value', kind: 'number', label: m('profile.form.weightKg'), hint: m('profile.form.decimalHint'), when: (v) => v.kind === 'weight', missing: m('profile.form.weightMissing'), check: inRange(0.3, 400, 'profile.form.weightRange') },
      { name: 'value', kind: 'number', label: m('profile.form.heightCm'), when: (v) => v.kind === 'height', missing: m('profile.form.heightMissing'), check: inRange(20, 260, 'profile.form.heightRange') },
      { name: 'systolic', kind: 'number', label: m('profile.form.systolic'), hint: m('profile.form.systolicHint'), when: (v) => v.kind === 'blood_pressure', missing: m('profile.form.systolicMissing'), check: inRange(50, 300, 'profile.form.systolicRange') },
      {
        name: 'diastolic', kind: 'number', label: m('profile.form.diastolic'), when: (v) => v.kind === 'blood_pressure', missing: m('profile.form.diastolicMissing'),
        check: (value, all) => inRange(20, 200, 'profile.form.diastolicRange')(value) ?? (parseNumber(value) >= parseNumber(all.systolic ?? '') ? m('profile.form.diastolicHigher') : undefined),
      },
      dateField({ label: m('profile.form.measureDate'), value: today() }),
    ],
    from: (r): Values => {
      const codes = (r.code?.coding ?? []).map((c) => c.code);
      if (codes.includes(LOINC.bloodPressure)) {
        const comp = (code: string) => r.component?.find((c) => c.code?.coding?.some((x) => x.code === code))?.valueQuantity?.value;
        return { kind: 'blood_pressure', systolic: String(comp(LOINC.systolic) ?? ''), diastolic: String(comp(LOINC.diastolic) ?? ''), date: day(r.effectiveDateTime) };
      }
      return { kind: codes.includes(LOINC.height) ? 'height' : 'weight', value: String(r.valueQuantity?.value ?? '').replace('.', ','), date: day(r.effectiveDateTime) };
    },
    name: (v) =>
      v.kind === 'blood_pressure'
        ? t('profile.nameValue', { name: t('profile.measure.blood_pressure'), value: `${v.systolic} / ${v.diastolic} mm Hg` })
        : t('profile.nameValue', { name: t(v.kind === 'height' ? 'profile.measure.height' : 'profile.measure.weight'), value: `${v.value} ${v.kind === 'height' ? 'cm' : 'kg'}` }),
  },
  disability: {
    fields: () => [{ name: 'text', kind: 'textarea', label: m('profile.form.disability'), hint: m('profile.form.disabilityHint'), maxlength: 1000, missing: m('profile.form.disabilityMissing') }],
    from: (r) => ({ text: conceptText(r.code) }),
    name: (v) => v.text ?? '',
  },
  conditions: {
    fields: () => [
      { name: 'text', kind: 'text', label: m('profile.form.condition'), hint: m('profile.form.conditionHint'), maxlength: 200, missing: m('profile.form.conditionMissing') },
      { name: 'status', kind: 'radio', label: m('profile.form.conditionStatus'), options: options('profile.conditionStatus', ['active', 'resolved']), value: 'active' },
      dateField({ label: m('profile.form.onset'), optional: true, hint: m('profile.form.onsetHint') }),
    ],
    from: (r) => ({ text: conceptText(r.code), status: r.clinicalStatus?.coding?.[0]?.code === 'resolved' ? 'resolved' : 'active', date: day(r.onsetDateTime) }),
    name: (v) => v.text ?? '',
  },
  family_history: {
    fields: () => [
      { name: 'relation', kind: 'select', label: m('profile.form.relation'), options: [{ value: '', label: m('profile.form.choose') }, ...options('profile.relation', FAMILY_RELATIONS)], missing: m('profile.form.relationMissing') },
      { name: 'text', kind: 'text', label: m('profile.form.familyCondition'), hint: m('profile.form.familyConditionHint'), maxlength: 200, missing: m('profile.form.familyConditionMissing') },
    ],
    labels: (v) => ({ relation: v.relation ? t(`profile.relation.${v.relation}` as MessageKey) : '' }),
    from: (r) => {
      const rel = Array.isArray(r.relationship) ? r.relationship[0] : r.relationship;
      return { relation: rel?.coding?.[0]?.code ?? '', text: conceptText(r.condition?.[0]?.code) };
    },
    name: (v) => v.text ?? '',
  },
  allergies: {
    fields: (_p, m) => [
      { name: 'text', kind: 'text', label: m('profile.form.allergy'), hint: m('profile.form.allergyHint'), maxlength: 200, missing: m('profile.form.allergyMissing') },
      { name: 'reaction', kind: 'text', label: m('profile.form.reaction'), hint: m('profile.form.reactionHint'), optional: true, maxlength: 200 },
      { name: 'criticality', kind: 'select', label: m('profile.form.criticality'), optional: true, options: [{ value: '', label: m('profile.form.unknown') }, ...options('profile.criticality', ['low', 'high'])] },
      { name: 'status', kind: 'radio', label: m('profile.form.allergyStatus'), options: options('profile.allergyStatus', ['active', 'inactive']), value: 'active' },
    ],
    from: (r) => ({
      text: conceptText(r.code),
      reaction: conceptText(r.reaction?.[0]?.manifestation?.[0]),
      criticality: r.criticality === 'low' || r.criticality === 'high' ? r.criticality : '',
      status: r.clinicalStatus?.coding?.[0]?.code === 'inactive' || r.clinicalStatus?.coding?.[0]?.code === 'resolved' ? 'inactive' : 'active',
    }),
    name: (v) => v.text ?? '',
  },
  treatments: {
    fields: () => [
      { name: 'text', kind: 'text', label: m('profile.form.medication'), hint: m('profile.form.medicationHint'), maxlength: 200, missing: m('profile.form.medicationMissing') },
      { name: 'dosage', kind: 'text', label: m('profile.form.dosage'), hint: m('profile.form.dosageHint'), optional: true, maxlength: 200 },
      dateField({ label: m('profile.form.treatmentStart'), optional: true }),
      { name: 'status', kind: 'radio', label: m('profile.form.treatmentStatus'), options: options('profile.treatmentStatus', ['active', 'completed']), value: 'active' },
    ],
    from: (r) => ({ text: conceptText(r.medicationCodeableConcept), dosage: r.dosage?.[0]?.text ?? '', date: day(r.effectivePeriod?.start), status: r.status === 'completed' ? 'completed' : 'active' }),
    name: (v) => v.text ?? '',
  },
  vaccinations: {
    fields: (p) => [
      { name: 'vaccine', kind: 'select', label: m('profile.form.vaccine'), options: [{ value: '', label: m('profile.form.choose') }, ...(p.vaccines ?? []).map((x) => ({ value: x.code, label: x.label }))], missing: m('profile.form.vaccineMissing') },
      dateField({ label: m('profile.form.vaccineDate'), value: today() }),
      { name: 'lot', kind: 'text', label: m('profile.form.lot'), hint: m('profile.form.lotHint'), optional: true, maxlength: 40 },
    ],
    labels: (v, p) => ({ vaccine: p.vaccines?.find((x) => x.code === v.vaccine)?.label ?? v.vaccine ?? '' }),
    from: (r) => ({ vaccine: r.vaccineCode?.coding?.find((c) => c.system === SYSTEMS.vaccine)?.code ?? '', date: day(r.occurrenceDateTime), lot: r.lotNumber ?? '' }),
    name: (v, p) => p.vaccines?.find((x) => x.code === v.vaccine)?.label ?? v.vaccine ?? '',
  },
  stays: {
    fields: () => [
      { name: 'place', kind: 'text', label: m('profile.form.place'), hint: m('profile.form.placeHint'), maxlength: 200, missing: m('profile.form.placeMissing') },
      { name: 'reason', kind: 'text', label: m('profile.form.reason'), optional: true, maxlength: 200 },
      { name: 'start', kind: 'date', label: m('profile.form.start'), past: true, missing: m('profile.form.startMissing') },
      { name: 'end', kind: 'date', label: m('profile.form.end'), optional: true, past: true, check: (value, all) => (value && all.start && value < all.start ? m('profile.form.endBeforeStart') : undefined) },
    ],
    from: (r) => ({ place: r.serviceProvider?.display ?? '', reason: conceptText(r.reasonCode?.[0]), start: day(r.period?.start), end: day(r.period?.end) }),
    name: (v) => v.place ?? '',
  },
  procedures: {
    fields: () => [
      { name: 'text', kind: 'text', label: m('profile.form.procedure'), hint: m('profile.form.procedureHint'), maxlength: 200, missing: m('profile.form.procedureMissing') },
      dateField({ label: m('profile.form.procedureDate') }),
    ],
    from: (r) => ({ text: conceptText(r.code), date: day(r.performedDateTime) }),
    name: (v) => v.text ?? '',
  },
  advance_directives: {
    fields: (_p, m) => [
      { name: 'title', kind: 'text', label: m('profile.form.directiveTitle'), value: m('profile.form.directiveTitleDefault'), maxlength: 200, missing: m('profile.form.directiveTitleMissing') },
      { name: 'text', kind: 'textarea', label: m('profile.form.directiveText'), hint: m('profile.form.directiveTextHint'), maxlength: 20000, missing: m('profile.form.directiveTextMissing') },
      dateField({ label: m('profile.form.directiveDate'), value: today() }),
    ],
    from: (r) => ({ title: r.sourceAttachment?.title ?? '', text: fromBase64(r.sourceAttachment?.data), date: day(r.dateTime) }),
    name: (v) => v.title ?? '',
  },
  contacts: {
    fields: (_p, m) => [
      { name: 'role', kind: 'radio', label: m('profile.form.contactRole'), options: [{ value: 'trusted', label: m('profile.contact.trusted') }, { value: 'emergency', label: m('profile.contact.emergency') }], value: 'trusted', hint: m('profile.form.contactRoleHint') },
      { name: 'name', kind: 'text', label: m('profile.form.contactName'), maxlength: 200, missing: m('profile.form.contactNameMissing') },
      {
        name: 'phone', kind: 'tel', label: m('profile.form.contactPhone'), hint: m('profile.form.contactPhoneHint'), optional: true, maxlength: 30,
        check: (value) => (value && !/^\+?[0-9][0-9 .()-]{5,24}$/.test(value) ? m('profile.form.contactPhoneInvalid') : undefined),
      },
    ],
    labels: (v) => ({ role: v.role === 'emergency' ? t('profile.contact.emergency') : t('profile.contact.trusted') }),
    from: (r) => {
      const rels = Array.isArray(r.relationship) ? r.relationship : r.relationship ? [r.relationship] : [];
      return { role: rels.some((c) => c.coding?.some((x) => x.code === 'C')) ? 'emergency' : 'trusted', name: r.name?.[0]?.text ?? '', phone: r.telecom?.find((x) => x.system === 'phone')?.value ?? '' };
    },
    name: (v) => v.name ?? '',
  },
};

export function hasForm(section: SectionKey): boolean {
  return !!SPECS[section];
}

/** A control of the generic form, whatever its kind. */
interface Control {
  def: FieldDef;
  el: HTMLElement;
  value(): string;
  set(value: string): void;
  setError(message: string | undefined): void;
  focus(): void;
  onChange(fn: () => void): void;
}

function control(def: FieldDef): Control {
  if (def.kind === 'radio') {
    const g = radioGroup({ legend: def.label, name: def.name, options: def.options ?? [], value: def.value, hint: def.hint });
    return {
      def, el: g.el, value: g.value, setError: g.setError, focus: g.focus,
      set: (value) => g.inputs.forEach((i) => (i.checked = i.value === value)),
      onChange: (fn) => g.inputs.forEach((i) => i.addEventListener('change', fn)),
    };
  }
  let f: Field<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>;
  if (def.kind === 'select') f = selectField({ label: def.label, name: def.name, options: def.options ?? [], value: def.value, hint: def.hint, optional: def.optional });
  else if (def.kind === 'textarea') f = textAreaField({ label: def.label, name: def.name, hint: def.hint, optional: def.optional, value: def.value, maxlength: def.maxlength, rows: 4 });
  else {
    const tf = textField({
      label: def.label, name: def.name, hint: def.hint, optional: def.optional, value: def.value, maxlength: def.maxlength,
      type: def.kind === 'date' ? 'date' : def.kind === 'tel' ? 'tel' : 'text',
      autocomplete: def.kind === 'tel' ? 'tel' : 'off',
    });
    if (def.kind === 'number') tf.input.inputMode = 'decimal';
    if (def.kind === 'date' && def.past) tf.input.max = today();
    f = tf;
  }
  return {
    def, el: f.el, value: f.value, setError: f.setError, focus: f.focus,
    set: (value) => (f.input.value = value),
    onChange: (fn) => f.input.addEventListener(def.kind === 'select' ? 'change' : 'input', fn),
  };
}

export interface EntryFormOptions {
  section: SectionKey;
  pid: string;
  /** Who fills it in (the wording; default the patient's). */
  side?: Side;
  profile: Profile;
  /** Editing this entry (PUT with If-Match), else a new one (POST). */
  entry?: ProfileEntry;
  /** Values to start with (a vaccine chosen from the booklet). */
  preset?: Values;
  signal: AbortSignal;
  onDone(name: string): void;
  onCancel(): void;
}

/** The form of a section: validates, sends, says what went wrong in words. */
export function entryForm(o: EntryFormOptions): { el: HTMLFormElement; focus(): void } {
  const spec = SPECS[o.section];
  if (!spec) throw new Error(`no form for ${o.section}`);
  const words: Words = (key, params) => sided(o.side ?? 'patient', key, params);
  const controls = spec.fields(o.profile, words).map(control);
  const start: Values = { ...(o.entry ? spec.from(o.entry.resource) : {}), ...(o.preset ?? {}) };
  for (const c of controls) if (start[c.def.name] !== undefined && (!c.def.when || c.def.when(start))) c.set(start[c.def.name]!);

  const values = (): Values => {
    const v: Values = {};
    // Fields sharing a name (weight or height "value"): the one shown wins.
    for (const c of controls) if (!(c.def.name in v) || !c.el.hidden) v[c.def.name] = c.value();
    return v;
  };
  const shown = () => {
    const v = values();
    for (const c of controls) c.el.hidden = !!c.def.when && !c.def.when(v);
  };
  controls.forEach((c) => c.onChange(shown));
  shown();

  const status = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, o.entry ? t('profile.form.saveChanges') : t('profile.form.save'));
  const cancel = h('button', { type: 'button', class: 'button button--secondary' }, t('form.cancel'));
  cancel.addEventListener('click', () => o.onCancel());
  const form = h(
    'form',
    { class: 'form profile-form', novalidate: true, 'data-section': o.section, 'data-mode': o.entry ? 'edit' : 'add' },
    h('p', { class: 'field__hint' }, t('profile.form.required')),
    controls.map((c) => c.el),
    status.el,
    h('div', { class: 'form__actions' }, submit, cancel),
  );
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      o.onCancel();
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.clear();
    const v = values();
    const visible = controls.filter((c) => !c.el.hidden);
    const now = today();
    const ok = validateAll(
      visible.map((c) => {
        const value = v[c.def.name] ?? '';
        let message: string | undefined;
        if (!value) message = c.def.optional ? undefined : c.def.missing ?? t('profile.form.missing');
        else if (c.def.kind === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) message = t('profile.form.dateInvalid');
        else if (c.def.kind === 'date' && c.def.past && value > now) message = t('profile.form.dateFuture');
        else message = c.def.check?.(value, v);
        return [c, message] as const;
      }),
    );
    if (!ok) return;
    const resource = profile.build(o.section, o.pid, v, spec.labels?.(v, o.profile, words) ?? {});
    const name = spec.name(v, o.profile, words);
    void whileBusy(submit, async () => {
      try {
        if (o.entry) await profile.update(o.entry, resource);
        else await profile.create(resource);
        if (!o.signal.aborted) o.onDone(name);
      } catch (err) {
        if (!o.signal.aborted) {
          status.error(errorText(err, { 412: t('profile.conflict'), 404: t('profile.gone'), 403: t('profile.forbidden') }));
        }
      }
    });
  });
  return { el: form, focus: () => (controls.find((c) => !c.el.hidden && !(o.preset && c.def.name in o.preset)) ?? controls[0])?.focus() };
}

/** Shows every message, focuses the first invalid field. */
function validateAll(checks: (readonly [Control, string | undefined])[]): boolean {
  let first: Control | undefined;
  for (const [c, message] of checks) {
    c.setError(message);
    if (message && !first) first = c;
  }
  first?.focus();
  return !first;
}
