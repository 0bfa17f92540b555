// "/patient/proches" ("Mes proches"): who helps manage the record shown — caregivers chosen by
// the person, the legal representatives of a child — and the invitations received.
//   GET /auth/records/{id}/delegations            the list (the person or a representative)
//   POST /auth/records/{id}/delegations {kind, login}   invite: a code goes to the invitee
//   DELETE /auth/records/{id}/delegations/{d}     remove, at once
//   POST /auth/invitations/accept {code}          "J'ai reçu un code d'invitation"
// A caregiver sees that only the person (or their representative) manages this.
import { h, mount, type Child } from '../dom';
import { formatMicros, t } from '../i18n';
import { auth, AuthError, type Delegation, type DelegationKind, type RecordRef } from '../api/auth';
import { backLink, errorState, loadingState } from '../components/states';
import { errorText, formMessages, normalizeLogin, textField, uid, validate, whileBusy } from '../components/form';
import { recordName, relationText } from '../components/record-switcher';
import { chooseRecord, currentRecord, loadSession } from '../session';
import { navigate } from '../navigation';
import { pathFor, type PageContext, type Renderer } from '../routes';

const MAX_CAREGIVERS = 3;

function panel(id: string, title: string, ...body: Child[]): HTMLElement {
  return h(
    'section',
    { class: 'panel', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, class: 'panel__title' }, title),
    ...body,
  );
}

export const renderDelegations: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.home'), t('record.back')),
    h('h1', { id: 'page-title' }, t('page.patient.delegations')),
    h('p', { class: 'lead' }, t('proches.intro')),
  );
  if (record && record.relation !== 'self') {
    main.append(h('p', { class: 'notice notice--info' }, t('proches.forRecord', { name: recordName(record), relation: relationText(record.relation) })));
  }

  if (record && record.relation === 'caregiver') {
    main.append(panel('gestion', t('proches.listTitle'), h('p', { class: 'notice notice--info', 'data-testid': 'caregiver-notice' }, t('proches.caregiverOnly', { name: recordName(record) }))));
  } else if (record) {
    const list = h('div', { class: 'panel__body' });
    // The invite form follows the list (3 caregivers at most).
    let invite: ReturnType<typeof inviteSection> | undefined;
    const reload = (): void => loadDelegations(list, record, ctx, reload, (items) => invite?.update(items));
    invite = inviteSection(record, ctx, reload);
    main.append(panel('gestion', record.relation === 'self' ? t('proches.listTitleSelf') : t('proches.listTitle'), list), invite.el);
    reload();
  }

  main.append(rightsSection());
  main.append(acceptSection(ctx));
};

function kindLabel(kind: string): string {
  return kind === 'representative' ? t('records.representative') : t('records.caregiver');
}

function loadDelegations(body: HTMLElement, record: RecordRef, ctx: PageContext, reload: () => void, loaded?: (items: Delegation[]) => void): void {
  mount(body, loadingState(t('state.loading'), true));
  auth
    .delegations(record.patient_id, ctx.signal)
    .then((items) => {
      if (ctx.signal.aborted) return;
      loaded?.(items ?? []);
      mount(body, delegationList(items ?? [], record, ctx, reload));
    })
    .catch((err: unknown) => {
      if (!ctx.signal.aborted) mount(body, errorState(err, { compact: true, onRetry: reload }));
    });
}

function delegationList(items: Delegation[], record: RecordRef, ctx: PageContext, reload: () => void): Child {
  if (!items.length) {
    return h('p', { class: 'panel__empty' }, record.relation === 'self' ? t('proches.emptySelf') : t('proches.empty'));
  }
  const messages = formMessages();
  return [
    messages.el,
    h('ul', { class: 'rows', role: 'list', 'data-testid': 'delegations' }, items.map((d) => delegationRow(d, record, ctx, reload, messages))),
  ];
}

function delegationRow(d: Delegation, record: RecordRef, ctx: PageContext, reload: () => void, messages: ReturnType<typeof formMessages>): HTMLElement {
  const invited = d.status !== 'active';
  const name = invited ? t('proches.pending') : d.delegate_name || t('records.unnamed');
  const who = invited ? t('proches.invitee', { to: d.invited_to ?? '' }) : name;
  const meta = invited
    ? t('proches.invitedTo', { to: d.invited_to || t('proches.someone'), when: formatMicros(d.created_at, false) })
    : t('proches.activeSince', { when: formatMicros(d.accepted_at ?? d.created_at, false) });

  const actions = h('div', { class: 'row__actions' });
  const remove = h(
    'button',
    { type: 'button', class: 'button button--secondary button--small' },
    t('proches.remove'),
    h('span', { class: 'visually-hidden' }, ` ${who}`),
  );
  const showButton = () => {
    mount(actions, remove);
  };
  remove.addEventListener('click', () => {
    messages.clear();
    const confirmId = uid('confirm');
    const yes = h('button', { type: 'button', class: 'button button--danger button--small' }, t('proches.removeConfirm'));
    const no = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('form.cancel'));
    const question = h('p', { id: confirmId, class: 'row__confirm-text', tabindex: '-1' },
      invited ? t('proches.removeInviteQuestion') : t('proches.removeQuestion', { name }),
    );
    no.addEventListener('click', () => {
      showButton();
      remove.focus();
    });
    yes.addEventListener('click', () => {
      void whileBusy(yes, async () => {
        try {
          await auth.endDelegation(record.patient_id, d.id);
          if (ctx.signal.aborted) return;
          reload();
        } catch (err) {
          if (ctx.signal.aborted) return;
          messages.error(errorText(err));
          showButton();
          remove.focus();
        }
      });
    });
    mount(actions, h('div', { class: 'row__confirm', role: 'group', 'aria-labelledby': confirmId }, question, h('div', { class: 'form__actions' }, yes, no)));
    question.focus();
  });
  showButton();

  return h(
    'li',
    { class: 'row', 'data-delegation': d.id, 'data-status': d.status, 'data-kind': d.kind },
    h('div', { class: 'row__main' },
      h('span', { class: 'row__title' }, name),
      h('span', { class: ['badge', invited ? 'badge--warn' : 'badge--ok'] }, kindLabel(d.kind)),
      h('span', { class: 'row__meta' }, meta),
    ),
    actions,
  );
}

/** The invite form: a caregiver for one's own record, the other representative for a child's. */
function inviteSection(record: RecordRef, ctx: PageContext, reload: () => void): { el: HTMLElement; update(items: Delegation[]): void } {
  const kind: DelegationKind = record.relation === 'representative' ? 'representative' : 'caregiver';
  const title = kind === 'caregiver' ? t('proches.inviteCaregiver', { n: MAX_CAREGIVERS }) : t('proches.inviteRepresentative');
  const login = textField({
    label: t('proches.login'),
    name: 'invitee',
    hint: kind === 'caregiver' ? t('proches.loginHint') : t('proches.loginHintRepresentative'),
    autocomplete: 'off',
    spellcheck: false,
    autocapitalize: 'none',
  });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, t('proches.send'));
  const form = h('form', { class: 'form form--inline', novalidate: true, 'aria-labelledby': 'inviter-title' }, messages.el, login.el, h('div', { class: 'form__actions' }, submit));
  const full = h('p', { class: 'notice notice--info', hidden: true }, t('proches.full', { n: MAX_CAREGIVERS }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!validate([[login, login.value() ? undefined : t('proches.loginRequired')]])) return;
    void whileBusy(submit, async () => {
      try {
        const d = await auth.invite(record.patient_id, kind, normalizeLogin(login.value()));
        if (ctx.signal.aborted) return;
        login.input.value = '';
        messages.success(d.invited_to ? t('proches.sent', { to: d.invited_to }) : t('proches.sentNoDest'));
        reload();
      } catch (err) {
        if (ctx.signal.aborted) return;
        // "Aucun compte actif avec cet identifiant…", "déjà invitée": about the person named.
        if (err instanceof AuthError && (err.status === 404 || err.status === 400 || err.status === 409)) {
          login.setError(errorText(err));
          login.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  const el = panel(
    'inviter',
    title,
    h('p', { class: 'panel__intro' }, kind === 'caregiver' ? t('proches.inviteIntro') : t('proches.inviteRepresentativeIntro')),
    full,
    form,
  );
  return {
    el,
    update(items) {
      if (kind !== 'caregiver') return;
      const caregivers = items.filter((d) => d.kind === 'caregiver').length;
      const isFull = caregivers >= MAX_CAREGIVERS;
      full.hidden = !isFull;
      form.hidden = isFull;
    },
  };
}

/** What a caregiver may and may not do, in plain words. */
function rightsSection(): HTMLElement {
  return panel(
    'aidant',
    t('proches.rightsTitle'),
    h('div', { class: 'rights' },
      h('div', { class: 'rights__col' },
        h('h3', { class: 'subpanel__title' }, t('proches.canTitle')),
        h('ul', { class: 'rights__list' },
          h('li', null, t('proches.can1')),
          h('li', null, t('proches.can2')),
          h('li', null, t('proches.can3')),
        ),
      ),
      h('div', { class: 'rights__col' },
        h('h3', { class: 'subpanel__title' }, t('proches.cannotTitle')),
        h('ul', { class: 'rights__list' },
          h('li', null, t('proches.cannot1')),
          h('li', null, t('proches.cannot2')),
          h('li', null, t('proches.cannot3')),
          h('li', null, t('proches.cannot4')),
        ),
      ),
    ),
    h('p', { class: 'panel__note' }, t('proches.rightsNote')),
  );
}

/** "J'ai reçu un code d'invitation": the record becomes reachable, and appears in the switcher. */
function acceptSection(ctx: PageContext): HTMLElement {
  const code = textField({
    label: t('proches.code'),
    name: 'invitation_code',
    hint: t('proches.codeHint'),
    autocomplete: 'off',
    spellcheck: false,
    autocapitalize: 'characters',
    class: 'input--mono',
  });
  const messages = formMessages();
  const done = h('div', { class: 'accepted' });
  const submit = h('button', { type: 'submit', class: 'button' }, t('proches.accept'));
  const form = h('form', { class: 'form form--inline', novalidate: true, 'aria-labelledby': 'code-recu-title' }, messages.el, code.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    done.replaceChildren();
    if (!validate([[code, code.value() ? undefined : t('proches.codeRequired')]])) return;
    void whileBusy(submit, async () => {
      try {
        const reached = await auth.acceptInvitation(code.value());
        if (ctx.signal.aborted) return;
        code.input.value = '';
        // The session is read again: the record now shows in the switcher.
        const s = await loadSession(true);
        if (ctx.signal.aborted) return;
        const known = s?.records?.find((r) => r.patient_id === reached?.patient_id) ?? reached;
        const name = known ? recordName(known) : t('records.unnamed');
        messages.success(t('proches.accepted', { name, relation: relationText(known?.relation) }));
        if (known?.patient_id) {
          const open = h('button', { type: 'button', class: 'button button--secondary' }, t('proches.open', { name }));
          open.addEventListener('click', () => {
            chooseRecord(known.patient_id);
            navigate(pathFor('patient.record'));
          });
          mount(done, open);
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && (err.status === 404 || err.status === 400)) {
          code.setError(errorText(err));
          code.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  return panel('code-recu', t('proches.codeTitle'), h('p', { class: 'panel__intro' }, t('proches.codeIntro')), form, done);
}
