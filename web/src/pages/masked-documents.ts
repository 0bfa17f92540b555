// "/patient/documents-confidentialite" ("Masquer des documents"): the record's documents, each
// with a "Masquer aux professionnels" switch saved at once. A masked document stays visible to
// its author, the médecin traitant, the record's administrators and the person.
//   GET /access/records/{pid}/documents
//   PUT /access/records/{pid}/documents/{type}/{id} {masked}
// Caregivers do not manage this (the API answers 403): they are told so.
import { h, mount } from '../dom';
import { formatDate, formatMicros, t, tn } from '../i18n';
import { access, type RecordDocument } from '../api/access';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { formMessages, textField, uid } from '../components/form';
import {
  caregiverNotice, categoryText, forbiddenNotice, forRecordNotice, isForbidden, maskSwitch,
} from '../components/access-bits';
import { currentRecord } from '../session';
import { pathFor, type PageContext, type Renderer } from '../routes';

const STEP = 25;

export const renderMaskedDocuments: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.privacy'), t('masked.back')),
    h('h1', { id: 'page-title' }, t('page.patient.maskedDocuments')),
    h('p', { class: 'lead' }, t('masked.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  const refused = caregiverNotice(record);
  if (refused || !record) {
    if (refused) main.append(refused);
    return;
  }
  const pid = record.patient_id;
  const body = h('div', { class: 'masked' });
  main.append(body);
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    access
      .documents(pid, ctx.signal)
      .then((docs) => {
        if (!ctx.signal.aborted) showDocuments(body, docs ?? [], pid, ctx);
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { onRetry: load }));
      });
  };
  load();
};

function showDocuments(body: HTMLElement, docs: RecordDocument[], pid: string, ctx: PageContext): void {
  if (!docs.length) {
    mount(body, emptyState(t('masked.none'), t('masked.noneText'), 'documents'));
    return;
  }
  const sorted = [...docs].sort((a, b) => (b.date ?? '').localeCompare(a.date ?? ''));
  const status = formMessages();
  const filter = textField({ label: t('masked.filter'), name: 'filtre', type: 'search', optional: true, hint: t('masked.filterHint') });
  const onlyMasked = h('input', { id: uid('only'), type: 'checkbox', class: 'checkbox__input' });
  const onlyRow = h('div', { class: 'checkbox' }, onlyMasked, h('div', { class: 'checkbox__text' }, h('label', { class: 'checkbox__label', for: onlyMasked.id }, t('masked.onlyMasked'))));
  const listId = uid('docs');
  const meta = h('p', { class: 'list-meta', id: listId, 'aria-live': 'polite' });
  const list = h('ul', { class: 'rows', role: 'list', 'aria-labelledby': listId, 'data-testid': 'documents' });
  const more = h('div', { class: 'logs__more' });
  let limit = STEP;
  let shownCount = 0;
  // After a switch, the counts change; the list stays as it is (focus stays on the switch).
  const counts = () => {
    const masked = sorted.filter((d) => d.masked).length;
    meta.textContent = `${tn('masked.count', shownCount)} · ${tn('masked.maskedCount', masked)}`;
  };

  const render = () => {
    const q = filter.value().toLowerCase();
    const shown = sorted.filter((d) => (!onlyMasked.checked || d.masked) && (!q || [d.title, d.author_name, categoryText(d.category)].some((s) => s?.toLowerCase().includes(q))));
    shownCount = shown.length;
    counts();
    mount(list, shown.slice(0, limit).map((d) => docRow(d, pid, ctx, status, counts)));
    if (shown.length > limit) {
      const button = h('button', { type: 'button', class: 'button button--secondary' }, t('record.more', { n: Math.min(STEP, shown.length - limit) }));
      button.addEventListener('click', () => {
        const before = limit;
        limit += STEP;
        render();
        list.children[before]?.querySelector<HTMLInputElement>('input')?.focus();
      });
      mount(more, button);
    } else {
      more.replaceChildren();
    }
  };
  filter.input.addEventListener('input', () => {
    limit = STEP;
    render();
  });
  onlyMasked.addEventListener('change', () => {
    limit = STEP;
    render();
  });
  mount(body, h('div', { class: 'search-form search-form--two' }, filter.el, onlyRow), status.el, meta, list, more);
  render();
}

function docRow(d: RecordDocument, pid: string, ctx: PageContext, status: ReturnType<typeof formMessages>, changed: () => void): HTMLElement {
  const title = d.title || t('record.untitled');
  const date = formatDate(d.date);
  const badge = h('span', { class: 'badge badge--muted', hidden: !d.masked }, t('masked.isMasked'));
  const sw = maskSwitch(d, pid, title, status, ctx.signal, (on) => {
    row.dataset.masked = String(on);
    badge.hidden = !on;
    changed();
  });
  const row = h(
    'li',
    { class: 'row row--doc', 'data-doc': `${d.type}/${d.id}`, 'data-masked': String(d.masked) },
    h('div', { class: 'row__main' },
      h('span', { class: 'row__title' }, title),
      h('span', { class: 'row__meta' }, [categoryText(d.category), date, d.author_name ? t('masked.by', { name: d.author_name }) : ''].filter(Boolean).join(' · ')),
      d.hidden_until ? h('span', { class: 'row__meta' }, t('masked.hiddenUntil', { when: formatMicros(d.hidden_until, false) })) : null,
      badge,
    ),
    sw.el,
  );
  return row;
}
