// "/patient/historique" ("Historique des accès"): who opened the record shown, when, what and
// why, newest first, with filters (refused only, emergencies only, a period) kept in the
// address, and "Afficher les accès plus anciens". "/pro/historique": a professional's own entries.
//   GET /access/records/{pid}/log?outcome=deny&emergency=1&since=µs&until=µs&before=seq&limit=n
//   GET /access/log?…   (the professional's own)
// Caregivers are refused by the API (403): they are told so.
import { h, mount } from '../dom';
import { t, tn } from '../i18n';
import { access, type LogFilter, type LogPage } from '../api/access';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { checkboxField, formMessages, selectField, textField, uid, validate, whileBusy } from '../components/form';
import {
  accessErrorText, caregiverNotice, forbiddenNotice, forRecordNotice, isForbidden, logEntry, professionLabels,
} from '../components/access-bits';
import { currentRecord } from '../session';
import { pathFor, type PageContext, type Renderer } from '../routes';

const PAGE_SIZE = 50;

export const renderAccessLog: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.home'), t('record.back')),
    h('h1', { id: 'page-title' }, t('page.patient.accessLog')),
    h('p', { class: 'lead' }, t('log.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  const refused = caregiverNotice(record);
  if (refused || !record) {
    if (refused) main.append(refused);
    return;
  }
  const pid = record.patient_id;
  logView(main, ctx, (f, signal) => access.log(pid, f, signal), false);
};

export const renderOwnAccessLog: Renderer = (main, ctx) => {
  main.append(
    backLink(pathFor('pro.patients'), t('pro.backToPatients')),
    h('h1', { id: 'page-title' }, t('page.pro.accessLog')),
    h('p', { class: 'lead' }, t('log.ownIntro')),
  );
  // The entries name records by id: the patients this professional still reaches give names.
  const patients = access
    .patients(ctx.signal)
    .then((list) => new Map((list ?? []).map((p) => [p.patient_id, p.name])))
    .catch(() => new Map<string, string>());
  logView(main, ctx, (f, signal) => access.ownLog(f, signal), true, patients);
};

/** A day ("2026-03-12") as the first or last microsecond of that day, local time. */
function dayMicros(day: string, end: boolean): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const d = end ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59, 999) : new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? undefined : d.getTime() * 1000;
}

function logView(
  main: HTMLElement,
  ctx: PageContext,
  load: (f: LogFilter, signal: AbortSignal) => Promise<LogPage>,
  own: boolean,
  names: Promise<Map<string, string>> = Promise.resolve(new Map()),
): void {
  const params = new URLSearchParams(location.search);
  const which = selectField({
    label: t('log.filterWhich'),
    name: 'resultat',
    optional: true,
    value: params.get('resultat') ?? '',
    options: [
      { value: '', label: t('log.filterAll') },
      { value: 'refus', label: t('log.filterDenied') },
      { value: 'autorise', label: t('log.filterAllowed') },
    ],
  });
  const emergency = checkboxField({ label: t('log.filterEmergency'), name: 'urgence', checked: params.get('urgence') === '1' });
  const since = textField({ label: t('log.filterSince'), name: 'du', type: 'date', optional: true, value: params.get('du') ?? '' });
  const until = textField({ label: t('log.filterUntil'), name: 'au', type: 'date', optional: true, value: params.get('au') ?? '' });
  const submit = h('button', { type: 'submit', class: 'button' }, t('log.filter'));
  const reset = h('button', { type: 'button', class: 'button button--secondary' }, t('log.filterReset'));
  const formId = uid('filters');
  const form = h(
    'form',
    { class: 'form filters', novalidate: true, 'aria-labelledby': formId },
    h('h2', { id: formId, class: 'filters__title' }, t('log.filters')),
    h('div', { class: 'filters__grid' }, which.el, since.el, until.el),
    emergency.el,
    h('div', { class: 'form__actions' }, submit, reset),
  );
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  main.append(form, results);

  const filterOf = (): LogFilter | undefined => {
    const s = since.value() ? dayMicros(since.value(), false) : undefined;
    const u = until.value() ? dayMicros(until.value(), true) : undefined;
    const ok = validate([
      [since, since.value() && s === undefined ? t('log.badDate') : undefined],
      [until, until.value() && u === undefined ? t('log.badDate') : s !== undefined && u !== undefined && u < s ? t('log.badPeriod') : undefined],
    ]);
    if (!ok) return undefined;
    const v = which.input.value;
    return { outcome: v === 'refus' ? 'deny' : v === 'autorise' ? 'allow' : undefined, emergency: emergency.checked() || undefined, since: s, until: u, limit: PAGE_SIZE };
  };

  const run = (push: boolean) => {
    const f = filterOf();
    if (!f) return;
    if (push) {
      const q = new URLSearchParams();
      if (which.input.value) q.set('resultat', which.input.value);
      if (emergency.checked()) q.set('urgence', '1');
      if (since.value()) q.set('du', since.value());
      if (until.value()) q.set('au', until.value());
      const s = q.toString();
      history.replaceState(null, '', `${location.pathname}${s ? `?${s}` : ''}`);
    }
    const filtered = !!(f.outcome || f.emergency || f.since || f.until);
    mount(results, loadingState(t('log.loading')));
    results.setAttribute('aria-busy', 'true');
    void whileBusy(submit, async () => {
      try {
        const [page, labels, patients] = await Promise.all([load(f, ctx.signal), professionLabels().catch(() => new Map<string, string>()), names]);
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        const entries = page?.entries ?? [];
        if (!entries.length) {
          mount(results, emptyState(filtered ? t('log.noneFiltered') : t('log.none'), filtered ? t('log.noneFilteredText') : own ? t('log.noneOwnText') : t('log.noneText'), 'history'));
          return;
        }
        const listId = uid('log');
        const meta = h('p', { class: 'list-meta', id: listId }, tn('log.count', entries.length));
        const list = h('ol', { class: 'logs', role: 'list', 'aria-labelledby': listId, 'data-testid': 'access-log' }, entries.map((e) => logEntry(e, labels, { own, patients })));
        const more = h('div', { class: 'logs__more' });
        const messages = formMessages();
        let shown = entries.length;
        const offerMore = (next: number | null) => {
          if (next === null || next === undefined) {
            mount(more, h('p', { class: 'panel__empty' }, t('log.end')));
            return;
          }
          const button = h('button', { type: 'button', class: 'button button--secondary' }, t('log.older'));
          button.addEventListener('click', () => {
            messages.clear();
            void whileBusy(button, async () => {
              try {
                const older = await load({ ...f, before: next }, ctx.signal);
                if (ctx.signal.aborted) return;
                const first = older.entries.map((e) => logEntry(e, labels, { own, patients }));
                list.append(...first);
                shown += older.entries.length;
                meta.textContent = tn('log.count', shown);
                offerMore(older.entries.length ? older.next_before : null);
                // Keyboard and screen-reader users go on from the first new entry.
                const target = first[0];
                if (target) {
                  target.setAttribute('tabindex', '-1');
                  target.focus();
                }
              } catch (err) {
                if (!ctx.signal.aborted) messages.error(accessErrorText(err));
              }
            });
          });
          mount(more, messages.el, button);
        };
        offerMore(page.next_before);
        mount(results, meta, list, more);
      } catch (err) {
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        mount(results, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { onRetry: () => run(false) }));
      }
    });
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(true);
  });
  reset.addEventListener('click', () => {
    which.input.value = '';
    emergency.input.checked = false;
    since.input.value = '';
    until.input.value = '';
    run(true);
  });
  run(false);
}
