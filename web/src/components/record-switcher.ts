// "Dossier de : Léa Martin — vous agissez comme représentant légal", in the header of the
// patient space, for people who act for someone else (a parent for a child, a caregiver).
// The choice is kept for this tab (session.ts); the page is shown again for the chosen record.
import { h, icon, ICONS } from '../dom';
import { t } from '../i18n';
import type { RecordRef, Session } from '../api/auth';
import { chooseRecord, currentRecord, recordsOf } from '../session';
import { navigate } from '../navigation';

/** "vous agissez comme aidant": how the person acts on the record shown. */
export function relationText(relation: string | undefined): string {
  if (relation === 'representative') return t('records.asRepresentative');
  if (relation === 'caregiver') return t('records.asCaregiver');
  return t('records.asSelf');
}

/** "Représentant légal", "Aidant", "Votre dossier": the relation as a short label. */
export function relationLabel(relation: string | undefined): string {
  if (relation === 'representative') return t('records.representative');
  if (relation === 'caregiver') return t('records.caregiver');
  return t('records.self');
}

export function recordName(r: RecordRef): string {
  return r.display_name || t('records.unnamed');
}

/**
 * The bar, or null when there is nothing to choose and the record shown is one's own (a
 * patient with a single record sees no bar).
 */
export function recordBar(session: Session): HTMLElement | null {
  const list = recordsOf(session);
  const shown = currentRecord(session);
  if (!shown || (list.length < 2 && shown.relation === 'self')) return null;

  const listId = 'record-choices';
  const choices = h('ul', { id: listId, class: 'record-bar__choices', role: 'list', hidden: true });
  const toggle = h(
    'button',
    { type: 'button', class: 'button button--secondary button--small record-bar__toggle', 'aria-expanded': 'false', 'aria-controls': listId },
    t('records.switch'),
  );
  const setOpen = (open: boolean) => {
    choices.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
  };
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    setOpen(open);
    if (open) choices.querySelector<HTMLButtonElement>('[aria-current="true"]')?.focus();
  });
  choices.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      setOpen(false);
      toggle.focus();
    }
  });
  for (const r of list) {
    const isShown = r.patient_id === shown.patient_id;
    const button = h(
      'button',
      {
        type: 'button',
        class: ['record-choice', isShown && 'is-current'],
        'aria-current': isShown ? 'true' : null,
        'data-patient-id': r.patient_id,
        'data-relation': r.relation ?? 'self',
      },
      h('span', { class: 'record-choice__name' }, recordName(r)),
      h('span', { class: 'record-choice__relation' }, relationLabel(r.relation)),
      isShown && h('span', { class: 'visually-hidden' }, ` (${t('records.shown')})`),
    );
    button.addEventListener('click', () => {
      setOpen(false);
      if (isShown) {
        toggle.focus();
        return;
      }
      chooseRecord(r.patient_id);
      // The same page again, for the chosen record.
      navigate(location.pathname + location.search, { replace: true });
    });
    choices.append(h('li', null, button));
  }

  return h(
    'div',
    { class: ['record-bar', shown.relation !== 'self' && 'record-bar--other'], 'data-testid': 'record-bar' },
    h(
      'div',
      { class: 'record-bar__inner' },
      h(
        'p',
        { class: 'record-bar__current' },
        icon(ICONS.document),
        h('span', { class: 'record-bar__text' },
          h('span', { class: 'record-bar__label' }, t('records.of')),
          ' ',
          h('strong', { class: 'record-bar__name', 'data-testid': 'record-name' }, recordName(shown)),
          h('span', { class: 'record-bar__relation', 'data-testid': 'record-relation' }, relationText(shown.relation)),
        ),
      ),
      list.length > 1 && toggle,
      list.length > 1 && choices,
    ),
  );
}
