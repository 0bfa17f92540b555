// A record's documents, as both the patient's page (pages/documents.ts) and the
// professional's (pages/pro-documents.ts) show them: by category, newest first, with search and
// filters (author, date); each opens in the page (PDF and images; text as text, never as HTML)
// and downloads. Older versions are nested under the document that replaced them ("Versions
// précédentes"); a document its author retracted shows only to them, marked "Retiré".
// The author of a current document may deposit a new version of it; on the professional side
// they may retract it. The patient side adds the mask switch and deletion of their own uploads.
import { downloadContent, openInViewer, sizeText } from './doc-viewer';
import { h, mount } from '../dom';
import { formatDate, formatMicros, t, tn } from '../i18n';
import type { RecordDocument } from '../api/access';
import { ACCEPTED_TYPES, DEPOSIT_TYPES, documents, type DepositType } from '../api/documents';
import { emptyState } from './states';
import { errorText, formMessages, selectField, textField, uid, whileBusy, type FormMessages } from './form';
import { categoryText, maskSwitch } from './access-bits';
import type { PageContext } from '../routes';

/** The order categories are shown in (the DMP classes), then anything else. */
const CATEGORY_ORDER = ['10', '11', '31', '42', '43', '44', '45', '52', '60', '90', '95'];

export type DocumentsSide = 'patient' | 'professional';

export interface DocumentsPage {
  pid: string;
  side: DocumentsSide;
  ctx: PageContext;
  /** Messages of the page ("… a été retiré" outlives a reload of the list). */
  status: FormMessages;
  /** Where a document opens (viewerSection() of components/doc-viewer). */
  viewer: HTMLElement;
  /** Loads the list again (after a deposit, a new version, a retraction, a deletion). */
  reload: () => void;
}

/**
 * The deposit form: file, type, title, date. With `replacing`, the form of a new version of
 * that document (the server supersedes it in the same transaction).
 */
export function depositForm(page: DocumentsPage, replacing?: RecordDocument, onDone?: () => void): HTMLElement {
  const { pid, ctx, side } = page;
  const status = formMessages();
  const fileId = uid('fichier');
  const file = h('input', { id: fileId, name: 'fichier', type: 'file', class: 'input', required: true, accept: ACCEPTED_TYPES.join(',') });
  const hint = side === 'professional' ? t('docs.fileHintPro') : t('docs.fileHint');
  const fileField = h('div', { class: 'field' }, h('label', { class: 'field__label', for: fileId }, t('docs.file')), h('p', { class: 'field__hint' }, hint), file);
  const type = selectField({
    label: t('docs.type'),
    name: 'type',
    options: DEPOSIT_TYPES.map((d) => ({ value: d.key, label: t(`docs.type.${d.key}`) })),
    value: 'report',
  });
  const title = textField({ label: t('docs.title'), name: 'titre', maxlength: 200, value: replacing?.title ?? '' });
  const today = new Date().toISOString().slice(0, 10);
  const date = textField({ label: t('docs.date'), name: 'date', type: 'date', value: today });
  const submit = h('button', { type: 'submit', class: 'button' }, replacing ? t('docs.replaceSubmit') : t('docs.deposit'));
  const form = h('form', { class: 'form deposit', novalidate: true, 'data-testid': replacing ? 'replace' : 'deposit' }, fileField, type.el, title.el, date.el, status.el, submit);
  if (replacing) {
    const cancel = h('button', { type: 'button', class: 'button button--secondary' }, t('docs.cancel'));
    cancel.addEventListener('click', () => onDone?.());
    form.append(cancel);
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    status.clear();
    const chosen = file.files?.[0];
    if (!chosen) {
      status.error(t('docs.fileMissing'));
      file.focus();
      return;
    }
    if (!title.value()) {
      title.setError(t('docs.titleMissing'));
      title.focus();
      return;
    }
    const name = title.value();
    void whileBusy(submit, () =>
      documents
        .deposit(pid, chosen, { type: type.value() as DepositType, title: name, date: date.value(), replaces: replacing?.id }, (step) => {
          status.success(t(`docs.step${step}`));
        })
        .then(() => {
          if (ctx.signal.aborted) return;
          const done = replacing
            ? t('docs.replaced', { title: replacing.title || t('record.untitled') })
            : side === 'professional'
              ? t('docs.depositedPro', { title: name })
              : t('docs.deposited', { title: name });
          // The page's messages: this form goes with the list it reloads.
          (replacing ? page.status : status).success(done);
          form.reset();
          onDone?.();
          page.reload();
        })
        .catch((err: unknown) => {
          if (!ctx.signal.aborted) status.error(errorText(err, { 413: t('docs.tooLarge'), 415: t('docs.badType'), 403: t('docs.refused'), 422: t('docs.notReplaceable') }));
        }),
    );
  });
  if (replacing) return h('section', { class: 'panel replace-panel', 'aria-label': t('docs.replaceTitle', { title: replacing.title || t('record.untitled') }) }, form);
  return h('details', { class: 'panel deposit-panel' }, h('summary', { class: 'panel__summary' }, t('docs.add')), form);
}

/** The list, its search and its filters, in `body`. */
export function showDocuments(body: HTMLElement, docs: RecordDocument[], page: DocumentsPage, empty: { title: string; text: string }): void {
  if (!docs.length) {
    mount(body, emptyState(empty.title, empty.text, 'documents'));
    return;
  }
  const byId = new Map(docs.map((d) => [d.id, d]));
  // A superseded version whose successor is listed goes under it; the rest are the rows.
  const nested = (d: RecordDocument) => !!d.replaced_by && byId.has(d.replaced_by);
  const sorted = docs.filter((d) => !nested(d)).sort((a, b) => (b.date ?? '').localeCompare(a.date ?? ''));
  const previous = (d: RecordDocument): RecordDocument[] => {
    const out: RecordDocument[] = [];
    const seen = new Set([d.id]);
    for (let p = d.replaces ? byId.get(d.replaces) : undefined; p && !seen.has(p.id); p = p.replaces ? byId.get(p.replaces) : undefined) {
      seen.add(p.id);
      out.push(p);
    }
    return out;
  };
  const search = textField({ label: t('docs.search'), name: 'recherche', type: 'search', optional: true, hint: t('docs.searchHint') });
  const authors = [...new Set(sorted.map((d) => d.author_name).filter((a): a is string => !!a))].sort();
  const author = selectField({ label: t('docs.author'), name: 'auteur', optional: true, options: [{ value: '', label: t('docs.anyAuthor') }, ...authors.map((a) => ({ value: a, label: a }))] });
  const from = textField({ label: t('docs.from'), name: 'depuis', type: 'date', optional: true });
  const to = textField({ label: t('docs.to'), name: 'jusqua', type: 'date', optional: true });
  const meta = h('p', { class: 'list-meta', 'aria-live': 'polite' });
  const groups = h('div', { class: 'doc-groups', 'data-testid': 'documents' });

  const render = () => {
    const q = search.value().toLowerCase();
    const who = author.value();
    const since = from.value();
    const until = to.value();
    const shown = sorted.filter((d) => {
      const day = (d.date ?? '').slice(0, 10);
      return (!q || [d.title, d.author_name, categoryText(d.category)].some((s) => s?.toLowerCase().includes(q))) && (!who || d.author_name === who) && (!since || day >= since) && (!until || (day && day <= until));
    });
    meta.textContent = tn('docs.count', shown.length);
    const byCategory = new Map<string, RecordDocument[]>();
    for (const d of shown) {
      const c = d.category ?? '';
      byCategory.set(c, [...(byCategory.get(c) ?? []), d]);
    }
    const order = [...byCategory.keys()].sort((a, b) => rank(a) - rank(b));
    mount(
      groups,
      order.map((c) => {
        const headingId = uid('cat');
        const list = byCategory.get(c) ?? [];
        return h('section', { class: 'doc-group', 'aria-labelledby': headingId, 'data-category': c },
          h('h2', { id: headingId, class: 'doc-group__title' }, `${categoryText(c) || t('docs.otherCategory')} (${list.length})`),
          h('ul', { class: 'rows', role: 'list' }, list.map((d) => docRow(d, page, previous(d)))));
      }),
    );
  };
  for (const f of [search, from, to]) f.input.addEventListener('input', render);
  author.input.addEventListener('change', render);
  mount(body, h('div', { class: 'search-form search-form--four' }, search.el, author.el, from.el, to.el), meta, groups);
  render();
}

function rank(category: string): number {
  const i = CATEGORY_ORDER.indexOf(category);
  return i < 0 ? CATEGORY_ORDER.length : i;
}

/** One document's row: its facts, what the reader may do, and its previous versions. */
function docRow(d: RecordDocument, page: DocumentsPage, older: RecordDocument[] = [], isVersion = false): HTMLElement {
  const { pid, ctx, status, viewer, side } = page;
  const title = d.title || t('record.untitled');
  const state = d.status ?? 'current';
  const badge = h('span', { class: 'badge badge--muted', hidden: !d.masked }, t('masked.isMasked'));
  const actions = h('div', { class: 'row__actions' });
  const extra = h('div', { class: 'row__extra' });
  if (d.binary_id) {
    const open = h('button', { type: 'button', class: 'button button--secondary' }, t('docs.open'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    open.addEventListener('click', () => void whileBusy(open, () => openDocument(d, title, viewer, ctx, status)));
    const download = h('button', { type: 'button', class: 'button button--secondary' }, t('docs.download'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    download.addEventListener('click', () => void whileBusy(download, () => downloadDocument(d, title, ctx, status)));
    actions.append(open, download);
  }
  if (d.own && state === 'current') {
    // A new version of one's own document: the form opens under the row.
    const replace = h('button', { type: 'button', class: 'button button--secondary', 'aria-expanded': 'false' }, t('docs.replace'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    replace.addEventListener('click', () => {
      if (extra.firstChild) {
        extra.replaceChildren();
        replace.setAttribute('aria-expanded', 'false');
        return;
      }
      const form = depositForm(page, d, () => {
        extra.replaceChildren();
        replace.setAttribute('aria-expanded', 'false');
        replace.focus();
      });
      extra.replaceChildren(form);
      replace.setAttribute('aria-expanded', 'true');
      form.querySelector<HTMLInputElement>('input[type="file"]')?.focus();
    });
    actions.append(replace);
    if (side === 'professional') {
      const retract = h('button', { type: 'button', class: 'button button--danger' }, t('docs.retract'), h('span', { class: 'visually-hidden' }, ` ${title}`));
      retract.addEventListener('click', () => {
        if (!window.confirm(t('docs.retractConfirm', { title }))) return;
        status.clear();
        void whileBusy(retract, () =>
          documents
            .retract(pid, d.id)
            .then(() => {
              if (ctx.signal.aborted) return;
              status.success(t('docs.retracted', { title }));
              page.reload();
            })
            .catch((err: unknown) => {
              if (!ctx.signal.aborted) status.error(errorText(err, { 403: t('docs.refused') }));
            }),
        );
      });
      actions.append(retract);
    }
  }
  if (d.own && side === 'patient' && !isVersion) {
    const remove = h('button', { type: 'button', class: 'button button--danger' }, t('docs.delete'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    remove.addEventListener('click', () => {
      if (!window.confirm(t('docs.deleteConfirm', { title }))) return;
      status.clear();
      void whileBusy(remove, () =>
        documents
          .remove(d.id, d.binary_id || undefined)
          .then(() => {
            if (ctx.signal.aborted) return;
            status.success(t('docs.deleted', { title }));
            page.reload();
          })
          .catch((err: unknown) => {
            if (!ctx.signal.aborted) status.error(errorText(err));
          }),
      );
    });
    actions.append(remove);
  }
  const sw = side === 'patient' ? maskSwitch(d, pid, title, status, ctx.signal, (on) => {
    badge.hidden = !on;
    row.dataset.masked = String(on);
  }) : undefined;
  const stateBadge =
    state === 'entered-in-error'
      ? h('span', { class: 'badge badge--danger', 'data-testid': 'retracted' }, t('docs.isRetracted'))
      : state === 'superseded'
        ? h('span', { class: 'badge badge--muted' }, t('docs.isSuperseded'))
        : null;
  const versions = older.length
    ? h('details', { class: 'doc-versions', 'data-testid': 'versions' },
        h('summary', {}, tn('docs.versions', older.length)),
        h('ul', { class: 'rows', role: 'list' }, older.map((v) => docRow(v, page, [], true))))
    : null;
  const row = h(
    'li',
    { class: ['row', 'row--doc', isVersion && 'row--version'], 'data-doc': `${d.type}/${d.id}`, 'data-masked': String(d.masked), 'data-status': state },
    h('div', { class: 'row__main' },
      h('span', { class: 'row__title' }, title),
      h('span', { class: 'row__meta' }, [formatDate(d.date), d.author_name ? t('masked.by', { name: d.author_name }) : '', sizeText(d.size)].filter(Boolean).join(' · ')),
      d.hidden_until ? h('span', { class: 'row__meta' }, t('masked.hiddenUntil', { when: formatMicros(d.hidden_until, false) })) : null,
      stateBadge,
      badge,
    ),
    actions,
    sw?.el ?? null,
    extra,
    versions,
  );
  return row;
}

async function openDocument(d: RecordDocument, title: string, viewer: HTMLElement, ctx: PageContext, status: FormMessages): Promise<void> {
  status.clear();
  try {
    await openInViewer(viewer, d.binary_id ?? '', title, ctx.signal);
  } catch (err) {
    if (!ctx.signal.aborted) status.error(errorText(err));
  }
}

async function downloadDocument(d: RecordDocument, title: string, ctx: PageContext, status: FormMessages): Promise<void> {
  status.clear();
  try {
    await downloadContent(d.binary_id ?? '', title, ctx.signal);
  } catch (err) {
    if (!ctx.signal.aborted) status.error(errorText(err));
  }
}
