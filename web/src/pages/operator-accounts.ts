// The operator console (advisors and admins): find an account, see its state, help the person.
// Never any health content here — the server refuses operators on every record route anyway.
//   GET /admin/accounts?kind=&q=
//   GET /admin/accounts/{id}
//   POST /admin/accounts/{id}/resend-activation, POST /admin/accounts/{id}/unlock
import { h, icon, ICONS, mount, type Child } from '../dom';
import { formatMicros, t, tn } from '../i18n';
import { admin, type AccountDetail, type AccountSummary } from '../api/auth';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { errorText, formMessages, selectField, textField, uid, whileBusy } from '../components/form';
import { formatIns, historyList, kindText, statusText, verifiedBadge } from '../components/account-bits';
import { initials } from '../fhir-display';
import { pathFor, type Renderer } from '../routes';

const KINDS = ['', 'patient', 'professional', 'advisor', 'admin'] as const;
/** The last search ("?q=…&kind=…"), for the detail page's way back to the same results. */
let lastSearch = '';

function identifierOf(a: AccountSummary): Child {
  if (a.ins) return [t('identity.ins'), ' ', h('span', { class: 'mono' }, formatIns(a.ins))];
  if (a.rpps) return [t('identity.rpps'), ' ', h('span', { class: 'mono' }, a.rpps)];
  if (a.login) return [t('identity.login'), ' ', h('span', { class: 'mono' }, a.login)];
  return null;
}

function statusBadge(status: string): HTMLElement {
  const tone = status === 'active' ? 'badge--ok' : status === 'pending' ? 'badge--info' : 'badge--muted';
  return h('span', { class: ['badge', tone] }, statusText(status));
}

export const renderAccountSearch: Renderer = (main, ctx) => {
  const params = new URLSearchParams(location.search);
  const kind = selectField({
    label: t('operator.kind'),
    name: 'kind',
    optional: true,
    value: params.get('kind') ?? '',
    options: KINDS.map((k) => ({ value: k, label: k ? kindText(k) : t('operator.allKinds') })),
  });
  const q = textField({ label: t('operator.q'), name: 'q', type: 'search', hint: t('operator.qHint'), optional: true, value: params.get('q') ?? '', spellcheck: false });
  const submit = h('button', { type: 'submit', class: 'button' }, icon(ICONS.search), t('directory.submit'));
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const form = h('form', { class: 'form search-form', role: 'search', novalidate: true, 'aria-label': t('operator.formLabel') }, q.el, kind.el, h('div', { class: 'form__actions' }, submit));

  const search = (push: boolean) => {
    const text = q.value();
    const k = kind.input.value;
    if (push) {
      const query = new URLSearchParams();
      if (text) query.set('q', text);
      if (k) query.set('kind', k);
      const s = query.toString();
      history.replaceState(null, '', `${location.pathname}${s ? `?${s}` : ''}`);
    }
    lastSearch = location.search;
    mount(results, loadingState(t('directory.searching')));
    results.setAttribute('aria-busy', 'true');
    void whileBusy(submit, async () => {
      try {
        const list = await admin.accounts(k, text, ctx.signal);
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        if (!list.length) {
          mount(results, emptyState(t('operator.none'), t('operator.noneText'), 'search'));
          return;
        }
        const listId = uid('accounts');
        mount(
          results,
          h('p', { class: 'list-meta', id: listId }, tn('operator.count', list.length)),
          h('ul', { class: 'cards', role: 'list', 'aria-labelledby': listId }, list.map(accountCard)),
        );
      } catch (err) {
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        mount(results, errorState(err, { onRetry: () => search(false) }));
      }
    });
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(true);
  });

  main.append(
    h('h1', { id: 'page-title' }, t('page.operator.accounts')),
    h('p', { class: 'lead' }, t('operator.intro')),
    h('p', { class: 'notice notice--info' }, icon(ICONS.privacy), t('operator.noHealth')),
    form,
    results,
  );
  if (params.get('q') || params.get('kind')) search(false);
  else mount(results, h('p', { class: 'panel__empty' }, t('operator.prompt')));
};

function accountCard(a: AccountSummary): HTMLElement {
  return h(
    'li',
    null,
    h(
      'a',
      { class: 'card card--link', href: pathFor('operator.account', { id: a.id }), 'data-account-id': a.id },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(a.display_name)),
      h('span', { class: 'card__body' },
        h('span', { class: 'card__title' }, a.display_name),
        h('span', { class: 'card__subtitle' }, kindText(a.kind), ' ', statusBadge(a.status)),
        h('span', { class: 'card__meta' }, identifierOf(a)),
      ),
      icon(ICONS.chevron, 'icon card__chevron'),
    ),
  );
}

export const renderAccountDetail: Renderer = (main, ctx) => {
  const id = ctx.params.id ?? '';
  const body = h('div', { class: 'account-detail' });
  main.append(backLink(pathFor('operator.accounts') + lastSearch, t('operator.back')), body);

  const load = () => {
    mount(body, loadingState(t('state.loading')));
    admin
      .account(id, ctx.signal)
      .then((a) => {
        if (ctx.signal.aborted) return;
        document.title = `${a.display_name} — ${t('app.titleSuffix')}`;
        mount(body, detail(a, load, ctx.signal));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { level: 1, onRetry: load }));
      });
  };
  load();
};

function detail(a: AccountDetail, reload: () => void, signal: AbortSignal): Child {
  const messages = formMessages();
  const locked = !!a.locked_until && a.locked_until / 1000 > Date.now();
  const activation =
    a.status === 'pending'
      ? t('operator.activation.pending')
      : a.activated_at
        ? t('operator.activation.done', { when: formatMicros(a.activated_at, false) })
        : a.status === 'opposed'
          ? t('operator.activation.opposed')
          : t('operator.activation.unknown');
  const contact = (value: string | null | undefined, verified: boolean | undefined): Child =>
    value ? [h('span', { class: 'mono' }, value), ' ', verifiedBadge(verified)] : t('contact.none');

  const actions: HTMLElement[] = [];
  if (a.status === 'pending') {
    const resend = h('button', { type: 'button', class: 'button' }, t('operator.resend'));
    resend.addEventListener('click', () => {
      messages.clear();
      void whileBusy(resend, async () => {
        try {
          await admin.resendActivation(a.id);
          if (!signal.aborted) messages.success(t('operator.resent'));
        } catch (err) {
          if (!signal.aborted) messages.error(errorText(err));
        }
      });
    });
    actions.push(resend);
  }
  const unlock = h('button', { type: 'button', class: locked ? 'button' : 'button button--secondary' }, t('operator.unlock'));
  unlock.addEventListener('click', () => {
    messages.clear();
    void whileBusy(unlock, async () => {
      try {
        await admin.unlock(a.id);
        if (signal.aborted) return;
        reload();
      } catch (err) {
        if (!signal.aborted) messages.error(errorText(err));
      }
    });
  });
  actions.push(unlock);

  const rows: [string, Child][] = [
    [t('operator.field.kind'), kindText(a.kind)],
    [t('operator.field.status'), statusBadge(a.status)],
    [t('operator.field.activation'), activation],
    [t('operator.field.id'), identifierOf(a) ?? '—'],
    [t('contact.emailLabel'), contact(a.email, a.email_verified)],
    [t('contact.smsLabel'), contact(a.phone, a.phone_verified)],
    [t('operator.field.lock'), locked ? h('strong', { class: 'text-warn' }, t('operator.lockedUntil', { when: formatMicros(a.locked_until) })) : t('operator.notLocked')],
    [t('operator.field.created'), formatMicros(a.created_at, false) || '—'],
  ];
  const historyId = uid('history');
  return [
    h('div', { class: 'detail-head' },
      h('span', { class: 'avatar avatar--lg', 'aria-hidden': 'true' }, initials(a.display_name)),
      h('div', null,
        h('p', { class: 'eyebrow' }, t('page.operator.account')),
        h('h1', { id: 'page-title' }, a.display_name),
      ),
    ),
    h('p', { class: 'notice notice--info' }, icon(ICONS.privacy), t('operator.noHealth')),
    h('section', { class: 'panel', 'aria-labelledby': 'state-title' },
      h('h2', { id: 'state-title', class: 'panel__title' }, t('operator.state')),
      h('dl', { class: 'kv' }, rows.map(([k, v]) => h('div', { class: 'kv__row' }, h('dt', null, k), h('dd', null, v)))),
      messages.el,
      h('div', { class: 'form__actions' }, actions),
      h('p', { class: 'panel__note' }, t('operator.unlockHelp')),
    ),
    h('section', { class: 'panel', 'aria-labelledby': historyId },
      h('h2', { id: historyId, class: 'panel__title' }, t('account.history')),
      a.history?.length ? historyList([...a.history].sort((x, y) => y.at - x.at)) : h('p', { class: 'panel__empty' }, t('history.empty')),
    ),
  ];
}
