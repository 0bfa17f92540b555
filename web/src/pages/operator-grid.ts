// "/operateur/grille" (admins): the authorization grid — which document classes and profile
// sections each profession may see (Y allowed, N refused, P allowed except sensitive types).
// A table of selects; the changes are listed before saving; each save is a new version.
//   GET /access/grid → {version, created_at, created_by, grid: {professions}}
//   GET /access/grid/versions → [{version, created_at, created_by}]
//   PUT /access/grid {professions} → the new version (admins only)
import { h, mount, type Child } from '../dom';
import { formatMicros, isoMicros, t, tn } from '../i18n';
import { admin } from '../api/auth';
import { cached } from '../cache';
import { access, GRID_COLUMNS, type GridAnswer, type GridTable, type GridVersion } from '../api/access';
import { errorState, loadingState } from '../components/states';
import { formMessages, uid, whileBusy } from '../components/form';
import {
  accessErrorText, categoryText, panel, professionLabels, professionText,
} from '../components/access-bits';
import type { PageContext, Renderer } from '../routes';

const VALUES = ['Y', 'N', 'P'] as const;

export const renderGrid: Renderer = (main, ctx) => {
  const editor = h('div', { class: 'grid-editor' });
  const versions = h('div', { class: 'panel__body' });
  main.append(
    h('h1', { id: 'page-title' }, t('page.operator.grid')),
    h('p', { class: 'lead' }, t('grid.intro')),
    h('p', { class: 'notice notice--info' }, t('grid.never')),
    editor,
    panel('versions', t('grid.versions'), h('p', { class: 'panel__intro' }, t('grid.versionsIntro')), versions),
  );
  const loadVersions = () => {
    mount(versions, loadingState(t('state.loading'), true));
    access
      .gridVersions(ctx.signal)
      .then((list) => {
        if (!ctx.signal.aborted) mount(versions, versionList(list ?? [], ctx.signal));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(versions, errorState(err, { compact: true, onRetry: loadVersions }));
      });
  };
  const load = (notice?: string) => {
    mount(editor, loadingState(t('state.loading')));
    Promise.all([access.grid(ctx.signal), professionLabels().catch(() => new Map<string, string>())])
      .then(([answer, labels]) => {
        if (!ctx.signal.aborted) gridEditor(editor, answer, labels, ctx, (n) => (load(n), loadVersions()), notice);
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(editor, errorState(err, { onRetry: () => load() }));
      });
  };
  load();
  loadVersions();
};

function versionName(v: GridVersion): string {
  return v.version === 0 ? t('grid.shipped') : t('grid.version', { n: v.version });
}

/** "par Alex Dupuis": the server names the admin by account id; the console asks for the name. */
function authorName(id: string | undefined): Promise<string> {
  if (!id) return Promise.resolve('');
  return cached(`grid-author:${id}`, () => admin.account(id).then((a) => a.display_name)).catch(() => '');
}

function versionList(list: GridVersion[], signal: AbortSignal): Child {
  // The shipped grid is the first version, whether the server lists it or not.
  const all = list.some((v) => v.version === 0) ? [...list] : [...list, { version: 0 }];
  const sorted = all.sort((a, b) => b.version - a.version);
  return [
    sorted.length === 1 && h('p', { class: 'panel__empty' }, t('grid.onlyShipped')),
    h(
      'ol',
      { class: 'history', role: 'list', 'data-testid': 'grid-versions' },
      sorted.map((v, i) => {
        const who = h('span', { class: 'history__who' });
        if (v.version > 0 && v.created_by) {
          void authorName(v.created_by).then((name) => {
            if (!signal.aborted && name) who.textContent = t('grid.by', { who: name });
          });
        }
        return h(
          'li',
          { class: 'history__item', 'data-version': String(v.version) },
          h('time', { class: 'history__when', datetime: isoMicros(v.created_at) }, formatMicros(v.created_at) || '—'),
          h('span', { class: 'history__what' }, versionName(v), i === 0 ? h('span', { class: 'badge badge--current grid__current' }, t('grid.inForce')) : null),
          who,
        );
      }),
    ),
  ];
}

function gridEditor(root: HTMLElement, answer: GridAnswer, labels: Map<string, string>, ctx: PageContext, saved: (notice: string) => void, notice?: string): void {
  const original: GridTable = answer.grid?.professions ?? {};
  const professions = Object.keys(original);
  const columns = [...GRID_COLUMNS.filter((c) => professions.some((p) => c in (original[p] ?? {}))), ...extraColumns(original)];
  const draft: GridTable = Object.fromEntries(professions.map((p) => [p, { ...original[p] }]));
  const messages = formMessages();
  if (notice) messages.success(notice);
  const changes = h('div', { class: 'grid-changes', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'button' }, t('grid.save'));
  const undo = h('button', { type: 'button', class: 'button button--secondary' }, t('grid.undo'));
  const legendId = uid('legend');
  const captionId = uid('caption');

  const cellSelect = (prof: string, col: string, profLabel: string): HTMLElement => {
    const value = String(original[prof]?.[col] ?? 'N');
    const select = h(
      'select',
      {
        class: ['grid__select', `grid__select--${value}`],
        name: `${prof}.${col}`,
        'aria-label': t('grid.cellLabel', { profession: profLabel, column: columnLabel(col) }),
        'aria-describedby': legendId,
        'data-profession': prof,
        'data-column': col,
      },
      VALUES.map((v) => h('option', { value: v, selected: v === value }, v)),
    );
    select.addEventListener('change', () => {
      draft[prof]![col] = select.value;
      const changed = select.value !== value;
      select.className = ['grid__select', `grid__select--${select.value}`, changed ? 'is-changed' : ''].filter(Boolean).join(' ');
      select.closest('td')?.classList.toggle('is-changed', changed);
      showChanges();
    });
    return h('td', { class: 'grid__cell' }, select);
  };

  const table = h(
    'table',
    { class: 'grid', 'aria-labelledby': captionId, 'data-version': String(answer.version ?? 0) },
    h('caption', { id: captionId, class: 'grid__caption' }, t('grid.caption', { version: versionName(answer) })),
    h('thead', null,
      h('tr', null,
        h('th', { scope: 'col', class: 'grid__corner' }, t('grid.profession')),
        columns.map((c) => h('th', { scope: 'col', class: 'grid__col' }, h('span', { class: 'grid__code' }, /^\d+$/.test(c) ? c : ''), h('span', { class: 'grid__colname' }, categoryText(c)))),
      ),
    ),
    h('tbody', null,
      professions.map((p) => {
        const label = professionText(p, labels);
        return h('tr', { 'data-profession': p }, h('th', { scope: 'row', class: 'grid__prof' }, label), columns.map((c) => cellSelect(p, c, label)));
      }),
    ),
  );

  const diff = (): { prof: string; col: string; from: string; to: string }[] => {
    const out: { prof: string; col: string; from: string; to: string }[] = [];
    for (const p of professions) for (const c of columns) {
      const from = String(original[p]?.[c] ?? 'N');
      const to = String(draft[p]?.[c] ?? 'N');
      if (from !== to) out.push({ prof: p, col: c, from, to });
    }
    return out;
  };

  const showChanges = () => {
    const d = diff();
    save.disabled = !d.length;
    undo.disabled = !d.length;
    if (!d.length) {
      mount(changes, h('p', { class: 'panel__empty' }, t('grid.noChange')));
      return;
    }
    mount(
      changes,
      h('p', { class: 'list-meta' }, tn('grid.changes', d.length)),
      h('ul', { class: 'grid-changes__list', 'data-testid': 'grid-diff' },
        d.map((x) => h('li', null, t('grid.change', { profession: professionText(x.prof, labels), column: columnLabel(x.col), from: valueText(x.from), to: valueText(x.to) }))),
      ),
    );
  };

  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': captionId });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!diff().length) return;
    void whileBusy(save, async () => {
      try {
        const result = await access.saveGrid(draft);
        if (ctx.signal.aborted) return;
        const n = (result as GridVersion | undefined)?.version;
        saved(n !== undefined ? t('grid.saved', { n }) : t('grid.savedNoVersion'));
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(accessErrorText(err));
      }
    });
  });
  undo.addEventListener('click', () => gridEditor(root, answer, labels, ctx, saved));
  mount(
    form,
    h('div', { id: legendId, class: 'grid-legend' },
      h('p', { class: 'grid-legend__title' }, t('grid.legend')),
      h('ul', { class: 'grid-legend__list' },
        VALUES.map((v) => h('li', null, h('span', { class: ['grid__value', `grid__select--${v}`] }, v), ' ', valueText(v))),
      ),
    ),
    h('div', { class: 'grid-scroll', role: 'region', tabindex: '0', 'aria-labelledby': captionId }, table),
    h('section', { class: 'panel grid-review', 'aria-labelledby': `${legendId}-review` },
      h('h2', { id: `${legendId}-review`, class: 'panel__title' }, t('grid.review')),
      changes,
      messages.el,
      h('div', { class: 'form__actions' }, save, undo),
    ),
  );
  mount(root, form);
  showChanges();
}

function extraColumns(table: GridTable): string[] {
  const known = new Set<string>(GRID_COLUMNS);
  const extra = new Set<string>();
  for (const row of Object.values(table)) for (const c of Object.keys(row)) if (!known.has(c)) extra.add(c);
  return [...extra];
}

/** "10 · Compte rendu", "Allergies". */
function columnLabel(c: string): string {
  return /^\d+$/.test(c) ? `${c} · ${categoryText(c)}` : categoryText(c);
}

function valueText(v: string): string {
  return v === 'Y' ? t('grid.Y') : v === 'P' ? t('grid.P') : v === 'N' ? t('grid.N') : v;
}
