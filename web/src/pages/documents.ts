// "/patient/documents" ("Documents"): the record's documents by category, newest first, with
// search and filters (date, author); each opens in the page (PDF and images; text as text,
// never as HTML), downloads, can be masked from professionals, and deleted by whoever
// deposited it. The person deposits a file with its type, title and date.
//   GET /access/records/{pid}/documents                  the list, as this reader may see it
//   GET /fhir/Binary/{id}                                 the content (raw bytes)
//   POST /fhir/Binary + POST /fhir/DocumentReference      a deposit (api/documents.ts)
//   PUT /access/records/{pid}/documents/{type}/{id}      masking
import { h, mount } from '../dom';
import { formatDate, formatMicros, t, tn } from '../i18n';
import { access, type RecordDocument } from '../api/access';
import { ACCEPTED_TYPES, DEPOSIT_TYPES, documents, type DepositType } from '../api/documents';
import { emptyState, errorState, loadingState } from '../components/states';
import { errorText, formMessages, selectField, textField, uid, whileBusy } from '../components/form';
import { categoryText, forRecordNotice, maskSwitch } from '../components/access-bits';
import { currentRecord } from '../session';
import type { PageContext, Renderer } from '../routes';

/** The order categories are shown in (the DMP classes), then anything else. */
const CATEGORY_ORDER = ['10', '11', '31', '42', '43', '44', '45', '52', '60', '90', '95'];

export const renderDocuments: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(h('h1', { id: 'page-title' }, t('page.patient.documents')), h('p', { class: 'lead' }, t('docs.intro')));
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  if (!record) {
    main.append(h('p', { class: 'notice notice--info' }, t('access.noRecord')));
    return;
  }
  const pid = record.patient_id;
  const viewer = h('section', { class: 'viewer', hidden: true, 'aria-label': t('docs.viewer'), 'data-testid': 'viewer' });
  // Outlives a reload of the list: "… a été supprimé" stays on screen.
  const status = formMessages();
  const body = h('div', { class: 'documents' });
  const load = () => {
    mount(body, loadingState(t('state.loading')));
    access
      .documents(pid, ctx.signal)
      .then((docs) => {
        if (!ctx.signal.aborted) showDocuments(body, viewer, status, docs ?? [], pid, ctx, load);
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { onRetry: load }));
      });
  };
  status.el.dataset.testid = 'documents-status';
  main.append(depositForm(pid, ctx, load), status.el, viewer, body);
  load();
};

function depositForm(pid: string, ctx: PageContext, reload: () => void): HTMLElement {
  const status = formMessages();
  const fileId = uid('fichier');
  const file = h('input', { id: fileId, name: 'fichier', type: 'file', class: 'input', required: true, accept: ACCEPTED_TYPES.join(',') });
  const fileField = h('div', { class: 'field' }, h('label', { class: 'field__label', for: fileId }, t('docs.file')), h('p', { class: 'field__hint' }, t('docs.fileHint')), file);
  const type = selectField({
    label: t('docs.type'),
    name: 'type',
    options: DEPOSIT_TYPES.map((d) => ({ value: d.key, label: t(`docs.type.${d.key}`) })),
    value: 'report',
  });
  const title = textField({ label: t('docs.title'), name: 'titre', maxlength: 200 });
  const today = new Date().toISOString().slice(0, 10);
  const date = textField({ label: t('docs.date'), name: 'date', type: 'date', value: today });
  const submit = h('button', { type: 'submit', class: 'button' }, t('docs.deposit'));
  const form = h('form', { class: 'form deposit', novalidate: true, 'data-testid': 'deposit' }, fileField, type.el, title.el, date.el, status.el, submit);
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
    void whileBusy(submit, () =>
      documents
        .deposit(pid, chosen, { type: type.value() as DepositType, title: title.value(), date: date.value() }, (step) => {
          status.success(t(`docs.step${step}`));
        })
        .then(() => {
          if (ctx.signal.aborted) return;
          status.success(t('docs.deposited', { title: title.value() }));
          form.reset();
          reload();
        })
        .catch((err: unknown) => {
          if (!ctx.signal.aborted) status.error(errorText(err, { 413: t('docs.tooLarge'), 415: t('docs.badType') }));
        }),
    );
  });
  return h('details', { class: 'panel deposit-panel' }, h('summary', { class: 'panel__summary' }, t('docs.add')), form);
}

function showDocuments(body: HTMLElement, viewer: HTMLElement, status: ReturnType<typeof formMessages>, docs: RecordDocument[], pid: string, ctx: PageContext, reload: () => void): void {
  if (!docs.length) {
    mount(body, emptyState(t('docs.none'), t('docs.noneText'), 'documents'));
    return;
  }
  const sorted = [...docs].sort((a, b) => (b.date ?? '').localeCompare(a.date ?? ''));
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
          h('ul', { class: 'rows', role: 'list' }, list.map((d) => docRow(d, pid, ctx, status, viewer, reload))));
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

function sizeText(bytes: number | undefined): string {
  if (!bytes) return '';
  if (bytes < 1024 * 1024) return t('docs.kb', { n: Math.max(1, Math.round(bytes / 1024)) });
  return t('docs.mb', { n: (bytes / (1024 * 1024)).toFixed(1) });
}

function docRow(d: RecordDocument, pid: string, ctx: PageContext, status: ReturnType<typeof formMessages>, viewer: HTMLElement, reload: () => void): HTMLElement {
  const title = d.title || t('record.untitled');
  const badge = h('span', { class: 'badge badge--muted', hidden: !d.masked }, t('masked.isMasked'));
  const actions = h('div', { class: 'row__actions' });
  if (d.binary_id) {
    const open = h('button', { type: 'button', class: 'button button--secondary' }, t('docs.open'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    open.addEventListener('click', () => void whileBusy(open, () => openDocument(d, title, viewer, ctx, status)));
    const download = h('button', { type: 'button', class: 'button button--secondary' }, t('docs.download'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    download.addEventListener('click', () => void whileBusy(download, () => downloadDocument(d, title, ctx, status)));
    actions.append(open, download);
  }
  if (d.own) {
    const remove = h('button', { type: 'button', class: 'button button--danger' }, t('docs.delete'), h('span', { class: 'visually-hidden' }, ` ${title}`));
    remove.addEventListener('click', () => {
      if (!window.confirm(t('docs.deleteConfirm', { title }))) return;
      void whileBusy(remove, () =>
        documents
          .remove(d.id, d.binary_id || undefined)
          .then(() => {
            if (ctx.signal.aborted) return;
            status.success(t('docs.deleted', { title }));
            reload();
          })
          .catch((err: unknown) => {
            if (!ctx.signal.aborted) status.error(errorText(err));
          }),
      );
    });
    actions.append(remove);
  }
  const sw = maskSwitch(d, pid, title, status, ctx.signal, (on) => {
    badge.hidden = !on;
    row.dataset.masked = String(on);
  });
  const row = h(
    'li',
    { class: 'row row--doc', 'data-doc': `${d.type}/${d.id}`, 'data-masked': String(d.masked) },
    h('div', { class: 'row__main' },
      h('span', { class: 'row__title' }, title),
      h('span', { class: 'row__meta' }, [formatDate(d.date), d.author_name ? t('masked.by', { name: d.author_name }) : '', sizeText(d.size)].filter(Boolean).join(' · ')),
      d.hidden_until ? h('span', { class: 'row__meta' }, t('masked.hiddenUntil', { when: formatMicros(d.hidden_until, false) })) : null,
      badge,
    ),
    actions,
    sw.el,
  );
  return row;
}

/** Objects URLs of the viewer, released when another document is opened. */
let shownUrl: string | undefined;

async function openDocument(d: RecordDocument, title: string, viewer: HTMLElement, ctx: PageContext, status: ReturnType<typeof formMessages>): Promise<void> {
  status.clear();
  try {
    const blob = await documents.content(d.binary_id ?? '', ctx.signal);
    if (ctx.signal.aborted) return;
    if (shownUrl) URL.revokeObjectURL(shownUrl);
    shownUrl = undefined;
    const close = h('button', { type: 'button', class: 'button button--secondary viewer__close' }, t('docs.close'));
    close.addEventListener('click', () => {
      viewer.hidden = true;
      viewer.replaceChildren();
      if (shownUrl) URL.revokeObjectURL(shownUrl);
      shownUrl = undefined;
    });
    let content: HTMLElement;
    // The type the server found in the bytes decides how it is shown; text is set as text
    // (textContent), so nothing in a document can become markup in the portal.
    if (blob.type === 'application/pdf') {
      shownUrl = URL.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
      content = h('iframe', { class: 'viewer__frame', src: shownUrl, title });
    } else if (blob.type === 'image/jpeg' || blob.type === 'image/png') {
      shownUrl = URL.createObjectURL(new Blob([blob], { type: blob.type }));
      content = h('img', { class: 'viewer__image', src: shownUrl, alt: title });
    } else if (blob.type === 'text/plain') {
      content = h('pre', { class: 'viewer__text' });
      content.textContent = await blob.text();
    } else {
      content = h('p', { class: 'notice notice--info' }, t('docs.noPreview'));
    }
    mount(viewer, h('div', { class: 'viewer__head' }, h('h2', { class: 'viewer__title' }, title), close), content);
    viewer.hidden = false;
    viewer.scrollIntoView({ block: 'start' });
    close.focus();
  } catch (err) {
    if (!ctx.signal.aborted) status.error(errorText(err));
  }
}

async function downloadDocument(d: RecordDocument, title: string, ctx: PageContext, status: ReturnType<typeof formMessages>): Promise<void> {
  status.clear();
  try {
    const blob = await documents.content(d.binary_id ?? '', ctx.signal);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || 'document'}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    if (!ctx.signal.aborted) status.error(errorText(err));
  }
}
