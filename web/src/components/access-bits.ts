// Plain-words renderings shared by the access pages (who can see my record, confidentiality,
// the access log, the professional's pages, the grid editor): statuses, roles, bases,
// actions, document classes, switches, and the guard for people who may not manage a record.
import { h, icon, ICONS, type Child } from '../dom';
import { formatMicros, isMessageKey, isoMicros, t, tn } from '../i18n';
import { directory, type RecordRef } from '../api/auth';
import { access, type LogEntry, type ProRole, type RecordDocument } from '../api/access';
import { FhirError } from '../api/fhir';
import { errorText, uid, type FormMessages } from './form';
import { cached } from '../cache';
import { recordName, relationText } from './record-switcher';

/** A titled panel (section) whose heading ids follow its own id. */
export function panel(id: string, title: string, ...body: Child[]): HTMLElement {
  return h(
    'section',
    { class: 'panel', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, class: 'panel__title' }, title),
    ...body,
  );
}

function lookup(prefix: string, value: string | undefined, fallback: string): string {
  const key = `${prefix}.${value ?? ''}`;
  return value && isMessageKey(key) ? t(key) : fallback;
}

/** "Médecin traitant", "Administrateur du dossier"… */
export function roleText(role: string): string {
  return lookup('access.role', role, role);
}

/** The roles a professional of this profession may be given. */
export function rolesFor(profession: string | undefined): ProRole[] {
  const out: ProRole[] = [];
  if (profession === 'medecin') out.push('medecin-traitant');
  if (profession === 'sage-femme') out.push('sage-femme-referente');
  if (profession === 'pharmacien') out.push('pharmacien-correspondant');
  out.push('administrator');
  return out;
}

/** Authorised / blocked / without authorisation: words and a mark, never colour alone. */
export function proStatusBadge(status: string): HTMLElement {
  const tone = status === 'authorised' ? 'badge--ok' : status === 'blocked' ? 'badge--danger' : 'badge--muted';
  const mark = status === 'authorised' ? '✓' : status === 'blocked' ? '✕' : '–';
  return h(
    'span',
    { class: ['badge', tone], 'data-status': status },
    h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, mark),
    lookup('access.status', status, status),
  );
}

/** "Compte rendu", "Vaccinations"… a grid column or a document class in words. */
export function categoryText(code: string | undefined): string {
  return lookup('access.category', code, code ?? '');
}

/** "médecin traitant", "accès d'urgence (bris de glace)"… why access was given. */
export function basisText(basis: string | undefined): string {
  return lookup('access.basis', basis, t('access.basis.other'));
}

/** "Consultation", "Ajout d'un document"… the action of a log entry. */
export function actionText(action: string): string {
  return lookup('access.action', action, t('access.action.other'));
}

/** "Vous l'avez bloqué", "La grille ne le permet pas"… why access was refused. */
export function refusalText(reason: string | undefined): string {
  return lookup('access.reason', reason, t('access.reason.other'));
}

/** The labels of the directory's professions ("medecin" → "Médecin"), cached for the session. */
export function professionLabels(): Promise<Map<string, string>> {
  return cached('directory:professions', () => directory.professions()).then((list) => new Map(list.map((p) => [p.code, p.label])));
}

export function professionText(code: string | undefined, labels: Map<string, string>, label?: string): string {
  if (label) return label;
  if (!code) return '';
  return labels.get(code) ?? lookup('access.profession', code, code);
}

/**
 * People who may not manage this record (a caregiver) are told so plainly, instead of a page
 * the API would refuse piece by piece. Returns the notice, or null when the controls apply.
 */
export function caregiverNotice(record: RecordRef | undefined): HTMLElement | null {
  if (!record) return h('p', { class: 'notice notice--info' }, t('access.noRecord'));
  if (record.relation !== 'caregiver') return null;
  return h('p', { class: 'notice notice--info', 'data-testid': 'caregiver-notice' }, icon(ICONS.privacy), h('span', null, t('access.caregiverOnly', { name: recordName(record) })));
}

/** "Dossier de Léa : vous agissez comme représentant légal." when it is not one's own record. */
export function forRecordNotice(record: RecordRef | undefined): HTMLElement | null {
  if (!record || record.relation === 'self') return null;
  return h('p', { class: 'notice notice--info' }, t('proches.forRecord', { name: recordName(record), relation: relationText(record.relation) }));
}

/** A refusal (403) in words, instead of a broken section: the server's sentence when it gives one. */
export function isForbidden(err: unknown): boolean {
  return err instanceof FhirError && err.status === 403;
}

/**
 * The sentence for a failed access request: the server's own ("blocked: le titulaire du
 * dossier vous a bloqué") without the rule's code in front, first letter up.
 */
export function accessErrorText(err: unknown, fallback: Partial<Record<number, string>> = {}): string {
  const text = errorText(err, fallback).replace(/^[a-z][a-z-]*: /, '');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function forbiddenNotice(err: unknown): HTMLElement {
  const detail = err instanceof FhirError && err.diagnostics[0] ? err.diagnostics[0].replace(/^[a-z][a-z-]*: /, '') : undefined;
  return h(
    'div',
    { class: 'notice notice--info', role: 'status', 'data-testid': 'forbidden-notice' },
    icon(ICONS.privacy),
    h('span', null, t('access.forbidden'), detail ? ` (${detail})` : ''),
  );
}

export interface SwitchField {
  el: HTMLElement;
  input: HTMLInputElement;
  set(on: boolean): void;
}

/**
 * An on/off switch: a checkbox with role="switch", its label, a one-sentence explanation and
 * the state in words ("Activé" / "Désactivé") next to it.
 */
export function switchField(o: { id: string; label: Child; hint?: string; checked: boolean; onChange(on: boolean, sw: SwitchField): void }): SwitchField {
  const input = h('input', {
    id: o.id,
    type: 'checkbox',
    role: 'switch',
    class: 'switch__input',
    checked: o.checked,
    'aria-describedby': o.hint ? `${o.id}-hint` : null,
  });
  const state = h('span', { id: `${o.id}-state`, class: 'switch__state', 'aria-hidden': 'true' });
  const el = h(
    'div',
    { class: 'switch', 'data-setting': o.id },
    h('div', { class: 'switch__control' }, input, state),
    h('div', { class: 'switch__text' },
      h('label', { class: 'switch__label', for: o.id }, o.label),
      o.hint && h('p', { id: `${o.id}-hint`, class: 'field__hint' }, o.hint),
    ),
  );
  const sw: SwitchField = {
    el,
    input,
    set(on) {
      input.checked = on;
      state.textContent = on ? t('access.on') : t('access.off');
      el.classList.toggle('is-on', on);
    },
  };
  sw.set(o.checked);
  input.addEventListener('change', () => {
    state.textContent = input.checked ? t('access.on') : t('access.off');
    el.classList.toggle('is-on', input.checked);
    o.onChange(input.checked, sw);
  });
  return sw;
}

/**
 * The "Masquer aux professionnels" switch of one document, saved at once
 * (PUT /access/records/{pid}/documents/{type}/{id}); on success `d.masked` follows and
 * `onSaved` runs, on failure the switch goes back and `status` says why.
 */
export function maskSwitch(d: RecordDocument, pid: string, title: string, status: FormMessages, signal: AbortSignal, onSaved: (on: boolean) => void): SwitchField {
  const sw = switchField({
    id: uid('masque'),
    label: [t('masked.switch'), h('span', { class: 'visually-hidden' }, ` ${t('masked.switchHint', { title })}`)],
    checked: d.masked,
    onChange: (on) => {
      status.clear();
      sw.input.disabled = true;
      access
        .setMasked(pid, d.type, d.id, on)
        .then(() => {
          if (signal.aborted) return;
          d.masked = on;
          status.success(on ? t('masked.maskedDone', { title }) : t('masked.unmaskedDone', { title }));
          onSaved(on);
        })
        .catch((err: unknown) => {
          if (signal.aborted) return;
          sw.set(!on);
          status.error(accessErrorText(err));
        })
        .finally(() => {
          sw.input.disabled = false;
        });
    },
  });
  return sw;
}

/** "jusqu'au 12 mars 2026 à 14:05 (encore 3 h 20 min)", or "terminé le …". */
export function untilText(until: number | null | undefined): string {
  if (!until) return '';
  const left = Math.floor(until / 1000) - Date.now();
  if (left <= 0) return t('access.ended', { when: formatMicros(until) });
  return t('access.until', { when: formatMicros(until), left: remaining(left) });
}

/** "3 h 20 min", "12 min": what is left of a window, in words. */
export function remaining(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (!hours) return tn('access.minutes', rest);
  return rest ? t('access.hoursMinutes', { h: hours, m: rest }) : tn('access.hours', hours);
}

/**
 * One access-log entry: when, who (and their profession), what, why, the outcome; an
 * emergency access is flagged with a mark and a word, not only a colour.
 */
export function logEntry(e: LogEntry, labels: Map<string, string>, { own = false, patients }: { own?: boolean; patients?: Map<string, string> } = {}): HTMLElement {
  const patient = own && e.patient_id ? patients?.get(e.patient_id) : undefined;
  const denied = e.outcome === 'deny';
  const profession = professionText(e.actor_profession, labels);
  const who = own
    ? t('log.you')
    : e.basis === 'self' || (e.actor_kind === 'patient' && !e.actor_name)
      ? t('log.holder')
      : e.actor_name || lookup('log.actorKind', e.actor_kind, t('log.someone'));
  const what = [actionText(e.action), e.category && e.category !== 'record' ? categoryText(e.category) : ''].filter(Boolean).join(' · ');
  return h(
    'li',
    {
      class: ['log', e.emergency && 'log--emergency', denied && 'log--denied'],
      'data-seq': String(e.seq),
      'data-outcome': e.outcome,
      'data-emergency': e.emergency ? 'true' : null,
    },
    h('div', { class: 'log__head' },
      h('time', { class: 'log__when', datetime: isoMicros(e.at) }, formatMicros(e.at)),
      e.emergency && h('span', { class: 'badge badge--danger log__flag' }, h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, '⚠'), t('log.emergency')),
      h('span', { class: ['badge', denied ? 'badge--danger-outline' : 'badge--ok'] },
        h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, denied ? '✕' : '✓'),
        denied ? t('log.denied') : t('log.allowed'),
      ),
    ),
    h('p', { class: 'log__who' },
      h('span', { class: 'log__name' }, who),
      profession && h('span', { class: 'log__profession' }, ` · ${profession}`),
    ),
    h('p', { class: 'log__what' }, what, e.count && e.count > 1 ? h('span', { class: 'log__count' }, ` ${tn('log.times', e.count)}`) : null),
    patient && h('p', { class: 'log__who' }, t('log.record', { name: patient })),
    h('dl', { class: 'log__facts' },
      h('div', null, h('dt', null, t('log.why')), h('dd', null, basisText(e.basis))),
      denied && h('div', null, h('dt', null, t('log.refusedBecause')), h('dd', null, refusalText(e.reason))),
    ),
  );
}
