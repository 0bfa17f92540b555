// "/patient/acces" ("Qui peut voir mon dossier"): the professionals who may see or have seen
// the record shown (the holder's own, or a child's for a legal representative), each
// authorised or blocked, their roles; adding or blocking someone from the directory; the
// temporary access code handed to a professional.
//   GET /access/records/{pid}/professionals
//   PUT /access/records/{pid}/professionals/{account} {status?, roles?}   DELETE … (ends it)
//   GET /directory/professionals?q=                        (the account to authorise or block)
//   POST /access/records/{pid}/codes {} → {id, code, expires_at}  (shown once)
//   GET /access/records/{pid}/codes, DELETE /access/records/{pid}/codes/{id}
//   GET /access/records/{pid}/settings                     (the emergency-only mode, said here)
// Caregivers do not manage this (the API answers 403): they are told so.
import { h, icon, ICONS, mount, type Child } from '../dom';
import { formatMicros, isoMicros, t, tn } from '../i18n';
import { auth, directory, type Professional } from '../api/auth';
import { access, groupCode, type AccessCode, type ProStatus, type RecordProfessional } from '../api/access';
import { backLink, emptyState, errorState, loadingState } from '../components/states';
import { formMessages, textField, uid, whileBusy, type FormMessages } from '../components/form';
import {
  accessErrorText, caregiverNotice, forbiddenNotice, forRecordNotice, isForbidden, panel, professionLabels, professionText, proStatusBadge, roleText, rolesFor,
} from '../components/access-bits';
import { formatIns } from '../components/account-bits';
import { initials } from '../fhir-display';
import { currentRecord } from '../session';
import { pathFor, type PageContext, type Renderer } from '../routes';

export const renderWhoCanSee: Renderer = (main, ctx) => {
  const record = currentRecord(ctx.session);
  main.append(
    backLink(pathFor('patient.home'), t('record.back')),
    h('h1', { id: 'page-title' }, t('page.patient.access')),
    h('p', { class: 'lead' }, t('whoCanSee.intro')),
  );
  const notice = forRecordNotice(record);
  if (notice) main.append(notice);
  const refused = caregiverNotice(record);
  if (refused || !record) {
    if (refused) main.append(refused);
    return;
  }
  const pid = record.patient_id;

  const listBody = h('div', { class: 'panel__body' });
  const modeNote = h('div', { class: 'mode-note' });
  // Kept across reloads of the list: "X est bloqué(e)." stays after the list is read again.
  const messages = formMessages();
  const list = panel('professionnels', t('whoCanSee.listTitle'), h('p', { class: 'panel__intro' }, t('whoCanSee.listIntro')), modeNote, messages.el, listBody);
  let known = new Map<string, RecordProfessional>();
  const reload = (focusAccount?: string): void => {
    // The list keeps its height while it is read again (no jump under the person's eyes).
    if (!listBody.childElementCount) mount(listBody, loadingState(t('state.loading'), true));
    listBody.setAttribute('aria-busy', 'true');
    Promise.all([access.professionals(pid, ctx.signal), professionLabels().catch(() => new Map<string, string>())])
      .then(([pros, labels]) => {
        if (ctx.signal.aborted) return;
        listBody.removeAttribute('aria-busy');
        known = new Map((pros ?? []).map((p) => [p.account_id, p]));
        mount(listBody, proList(pros ?? [], labels, pid, ctx, reload, messages));
        search.refresh(known);
        // The row acted on keeps the focus (on its first action).
        if (focusAccount) listBody.querySelector<HTMLElement>(`li[data-account="${CSS.escape(focusAccount)}"] .row__actions button`)?.focus();
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        listBody.removeAttribute('aria-busy');
        mount(listBody, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { compact: true, onRetry: () => reload() }));
      });
  };
  const search = addSection(pid, ctx, () => known, reload);
  const codes = codeSection(pid, record.relation === 'self', ctx);

  main.append(
    h(
      'nav',
      { class: 'toc', 'aria-label': t('account.toc') },
      h('ul', { class: 'toc__list', role: 'list' },
        h('li', null, h('a', { class: 'toc__link', href: '#professionnels' }, t('whoCanSee.listTitle'))),
        h('li', null, h('a', { class: 'toc__link', href: '#ajouter' }, t('whoCanSee.addTitle'))),
        h('li', null, h('a', { class: 'toc__link', href: '#code-acces' }, t('whoCanSee.codeTitle'))),
      ),
    ),
    list,
    search.el,
    codes,
    h('p', { class: 'see-also' },
      h('a', { href: pathFor('patient.privacy') }, t('whoCanSee.seePrivacy')),
      ' · ',
      h('a', { href: pathFor('patient.accessLog') }, t('whoCanSee.seeLog')),
    ),
  );
  reload();
  access
    .settings(pid, ctx.signal)
    .then((s) => {
      if (!ctx.signal.aborted && s?.emergency_only) {
        mount(modeNote, h('p', { class: 'notice notice--info' }, icon(ICONS.emergency), h('span', null, t('whoCanSee.emergencyOnly'), ' ', h('a', { href: pathFor('patient.privacy') }, t('whoCanSee.changeMode')))));
      }
    })
    .catch(() => {
      /* the list says the rest; the mode is on the confidentialité page */
    });
};

// ---------- the list ----------

function proList(pros: RecordProfessional[], labels: Map<string, string>, pid: string, ctx: PageContext, reload: (focusAccount?: string) => void, messages: FormMessages): Child {
  if (!pros.length) return h('p', { class: 'panel__empty' }, t('whoCanSee.empty'));
  const order = (p: RecordProfessional) => (p.status === 'authorised' ? 0 : p.status === 'blocked' ? 2 : 1);
  const sorted = [...pros].sort((a, b) => order(a) - order(b) || (b.last_access_at ?? 0) - (a.last_access_at ?? 0) || a.name.localeCompare(b.name));
  const listId = uid('pros');
  return [
    h('p', { class: 'list-meta', id: listId }, tn('whoCanSee.count', pros.length)),
    h('ul', { class: 'rows', role: 'list', 'aria-labelledby': listId, 'data-testid': 'professionals' }, sorted.map((p) => proRow(p, labels, pid, ctx, reload, messages))),
  ];
}

function proRow(p: RecordProfessional, labels: Map<string, string>, pid: string, ctx: PageContext, reload: (focusAccount?: string) => void, messages: FormMessages): HTMLElement {
  const profession = professionText(p.profession, labels, p.profession_label);
  const actions = h('div', { class: 'row__actions' });
  const editor = h('div', { class: 'row__editor' });
  const named = (label: string) => [label, h('span', { class: 'visually-hidden' }, ` ${p.name}`)];

  const act = (button: HTMLButtonElement, run: () => Promise<unknown>, done: string) => {
    messages.clear();
    void whileBusy(button, async () => {
      try {
        await run();
        if (ctx.signal.aborted) return;
        messages.success(done);
        reload(p.account_id);
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(accessErrorText(err));
      }
    });
  };
  const setStatus = (button: HTMLButtonElement, status: ProStatus, done: string) =>
    act(button, () => access.setProfessional(pid, p.account_id, { status }), done);

  const button = (label: string, cls: string, onClick: (b: HTMLButtonElement) => void) => {
    const b = h('button', { type: 'button', class: `button button--small ${cls}` }, named(label));
    b.addEventListener('click', () => onClick(b));
    return b;
  };

  /** A question before an action that takes effect at once (block, remove). */
  const confirm = (question: string, yesLabel: string, run: (yes: HTMLButtonElement) => void, back: HTMLButtonElement) => {
    const id = uid('confirm');
    const yes = h('button', { type: 'button', class: 'button button--danger button--small' }, yesLabel);
    const no = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('form.cancel'));
    const text = h('p', { id, class: 'row__confirm-text', tabindex: '-1' }, question);
    no.addEventListener('click', () => {
      show();
      back.focus();
    });
    yes.addEventListener('click', () => run(yes));
    mount(actions, h('div', { class: 'row__confirm', role: 'group', 'aria-labelledby': id }, text, h('div', { class: 'form__actions' }, yes, no)));
    text.focus();
  };

  const block = button(t('whoCanSee.block'), 'button--danger-outline', (b) =>
    confirm(t('whoCanSee.blockQuestion', { name: p.name }), t('whoCanSee.blockConfirm'), (yes) => setStatus(yes, 'blocked', t('whoCanSee.blocked', { name: p.name })), b),
  );
  const unblock = button(t('whoCanSee.unblock'), 'button--secondary', (b) => setStatus(b, 'known', t('whoCanSee.unblocked', { name: p.name })));
  const authorise = button(t('whoCanSee.authorise'), '', (b) => setStatus(b, 'authorised', t('whoCanSee.authorised', { name: p.name })));
  const remove = button(t('whoCanSee.remove'), 'button--secondary', (b) =>
    confirm(t('whoCanSee.removeQuestion', { name: p.name }), t('whoCanSee.removeConfirm'), (yes) => act(yes, () => access.removeProfessional(pid, p.account_id), t('whoCanSee.removed', { name: p.name })), b),
  );
  const rolesButton = button(t('whoCanSee.roles'), 'button--secondary', (b) => {
    b.setAttribute('aria-expanded', 'true');
    mount(editor, rolesEditor(p, pid, ctx, messages, reload, () => {
      editor.replaceChildren();
      b.setAttribute('aria-expanded', 'false');
      b.focus();
    }));
    editor.querySelector<HTMLInputElement>('input')?.focus();
  });
  rolesButton.setAttribute('aria-expanded', 'false');

  const show = () => {
    if (p.status === 'blocked') mount(actions, unblock);
    else if (p.status === 'authorised') mount(actions, rolesButton, block, remove);
    else mount(actions, authorise, rolesButton, block, p.roles?.length ? remove : null);
  };
  show();

  const facts: Child[] = [];
  if (profession || p.specialty) facts.push(h('span', { class: 'row__meta' }, [profession, p.specialty].filter(Boolean).join(' · ')));
  if (p.via_code && p.status === 'authorised') facts.push(h('span', { class: 'row__meta' }, t('whoCanSee.viaCode')));
  facts.push(
    h('span', { class: 'row__meta' },
      p.last_access_at
        ? [t('whoCanSee.lastAccess'), ' ', h('time', { datetime: isoMicros(p.last_access_at) }, formatMicros(p.last_access_at))]
        : t('whoCanSee.noAccess'),
    ),
  );
  if (p.status === 'blocked' && p.roles?.length) facts.push(h('span', { class: 'row__meta' }, t('whoCanSee.rolesSuspended')));

  return h(
    'li',
    { class: 'row row--pro', 'data-account': p.account_id, 'data-status': p.status },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(p.name.replace(/^Dr\.?\s+/i, ''))),
    h('div', { class: 'row__main' },
      h('span', { class: 'row__title' }, p.name),
      h('span', { class: 'row__badges' }, proStatusBadge(p.status), (p.roles ?? []).map((r) => h('span', { class: 'badge badge--info', 'data-role': r }, roleText(r)))),
      facts,
    ),
    actions,
    editor,
  );
}

/** The roles of one professional: check the ones to give, then save (one PUT with the list). */
function rolesEditor(p: RecordProfessional, pid: string, ctx: PageContext, messages: FormMessages, reload: (focusAccount?: string) => void, close: () => void): HTMLElement {
  const legendId = uid('roles');
  const inputs = rolesFor(p.profession).map((role) => {
    const id = uid('role');
    const input = h('input', { id, type: 'checkbox', class: 'checkbox__input', value: role, checked: (p.roles ?? []).includes(role), 'aria-describedby': `${id}-hint` });
    return {
      role,
      input,
      el: h('div', { class: 'checkbox' }, input, h('div', { class: 'checkbox__text' },
        h('label', { class: 'checkbox__label', for: id }, roleText(role)),
        h('p', { id: `${id}-hint`, class: 'field__hint' }, t(`whoCanSee.roleHint.${role}` as 'whoCanSee.roleHint.administrator')),
      )),
    };
  });
  const save = h('button', { type: 'submit', class: 'button button--small' }, t('whoCanSee.saveRoles'));
  const cancel = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('form.cancel'));
  cancel.addEventListener('click', close);
  const form = h(
    'form',
    { class: 'form form--inline roles-editor', novalidate: true },
    h('fieldset', { class: 'field fieldset' },
      h('legend', { id: legendId, class: 'field__label' }, t('whoCanSee.rolesLegend', { name: p.name })),
      h('div', { class: 'radios' }, inputs.map((i) => i.el)),
    ),
    h('p', { class: 'field__hint' }, t('whoCanSee.rolesMove')),
    h('div', { class: 'form__actions' }, save, cancel),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    // Roles of other professions are kept as they are (they are not offered here).
    const offered = new Set(inputs.map((i) => i.role as string));
    const roles = [...(p.roles ?? []).filter((r) => !offered.has(r)), ...inputs.filter((i) => i.input.checked).map((i) => i.role)];
    void whileBusy(save, async () => {
      try {
        await access.setProfessional(pid, p.account_id, { roles });
        if (ctx.signal.aborted) return;
        messages.success(t('whoCanSee.rolesSaved', { name: p.name }));
        reload(p.account_id);
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(accessErrorText(err));
      }
    });
  });
  return form;
}

// ---------- add or block from the directory ----------

function addSection(pid: string, ctx: PageContext, current: () => Map<string, RecordProfessional>, reload: (focusAccount?: string) => void): { el: HTMLElement; refresh(known: Map<string, RecordProfessional>): void } {
  const q = textField({ label: t('whoCanSee.searchLabel'), name: 'q', type: 'search', hint: t('whoCanSee.searchHint'), spellcheck: false });
  const submit = h('button', { type: 'submit', class: 'button' }, icon(ICONS.search), t('directory.submit'));
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const messages = formMessages();
  const form = h('form', { class: 'form search-form search-form--two', role: 'search', novalidate: true, 'aria-label': t('whoCanSee.addTitle') }, q.el, h('div', { class: 'form__actions' }, submit));
  let last: Professional[] | undefined;
  let actedOn: string | undefined;

  const show = () => {
    if (!last) return;
    // Read again after an action: the row acted on keeps the focus.
    const focusId = actedOn;
    actedOn = undefined;
    if (focusId) {
      queueMicrotask(() => {
        const row = results.querySelector<HTMLElement>(`li[data-account="${CSS.escape(focusId)}"]`);
        const target = row?.querySelector<HTMLElement>('button') ?? row;
        if (target && !target.matches('button')) target.setAttribute('tabindex', '-1');
        target?.focus();
      });
    }
    if (!last.length) {
      mount(results, emptyState(t('directory.none'), t('directory.noneText'), 'search'));
      return;
    }
    const listId = uid('found');
    mount(
      results,
      h('p', { class: 'list-meta', id: listId }, tn('directory.count', last.length)),
      h('ul', { class: 'rows', role: 'list', 'aria-labelledby': listId, 'data-testid': 'directory-results' }, last.map((p) => foundRow(p))),
    );
  };

  const foundRow = (p: Professional): HTMLElement => {
    const mine = current().get(p.id);
    const actions = h('div', { class: 'row__actions' });
    const name = p.display_name;
    const go = (b: HTMLButtonElement, status: ProStatus, done: string) => {
      messages.clear();
      actedOn = p.id;
      void whileBusy(b, async () => {
        try {
          await access.setProfessional(pid, p.id, { status });
          if (ctx.signal.aborted) return;
          messages.success(done);
          reload();
        } catch (err) {
          if (!ctx.signal.aborted) messages.error(accessErrorText(err));
        }
      });
    };
    const mk = (label: string, cls: string, status: ProStatus, done: string) => {
      const b = h('button', { type: 'button', class: `button button--small ${cls}` }, label, h('span', { class: 'visually-hidden' }, ` ${name}`));
      b.addEventListener('click', () => go(b, status, done));
      return b;
    };
    if (mine?.status !== 'authorised') actions.append(mk(t('whoCanSee.authorise'), '', 'authorised', t('whoCanSee.authorised', { name })));
    if (mine?.status !== 'blocked') actions.append(mk(t('whoCanSee.block'), 'button--danger-outline', 'blocked', t('whoCanSee.blocked', { name })));
    return h(
      'li',
      { class: 'row row--pro', 'data-account': p.id },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name.replace(/^Dr\.?\s+/i, ''))),
      h('div', { class: 'row__main' },
        h('span', { class: 'row__title' }, name),
        mine && h('span', { class: 'row__badges' }, proStatusBadge(mine.status)),
        h('span', { class: 'row__meta' }, [p.profession_label ?? p.profession, p.specialty].filter(Boolean).join(' · ')),
        p.organisation && h('span', { class: 'row__meta' }, p.organisation),
      ),
      actions,
    );
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const text = q.value();
    if (!text) {
      q.setError(t('whoCanSee.searchRequired'));
      q.focus();
      return;
    }
    mount(results, loadingState(t('directory.searching')));
    results.setAttribute('aria-busy', 'true');
    void whileBusy(submit, async () => {
      try {
        last = await directory.professionals(text, '', ctx.signal);
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        show();
      } catch (err) {
        if (ctx.signal.aborted) return;
        results.removeAttribute('aria-busy');
        mount(results, errorState(err, { compact: true }));
      }
    });
  });

  const el = panel('ajouter', t('whoCanSee.addTitle'), h('p', { class: 'panel__intro' }, t('whoCanSee.addIntro')), form, messages.el, results);
  return { el, refresh: () => show() };
}

// ---------- temporary access codes ----------

function codeSection(pid: string, own: boolean, ctx: PageContext): HTMLElement {
  const once = h('div', { class: 'once access-code', hidden: true, tabindex: '-1', 'data-testid': 'new-code' });
  const messages = formMessages();
  const create = h('button', { type: 'button', class: 'button' }, icon(ICONS.key), t('whoCanSee.createCode'));
  const listBody = h('div', { class: 'codes' });

  const load = (): void => {
    mount(listBody, loadingState(t('state.loading'), true));
    access
      .codes(pid, ctx.signal)
      .then((codes) => {
        if (!ctx.signal.aborted) mount(listBody, codeList(codes ?? [], pid, ctx, messages, load));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(listBody, isForbidden(err) ? forbiddenNotice(err) : errorState(err, { compact: true, onRetry: load }));
      });
  };

  create.addEventListener('click', () => {
    messages.clear();
    void whileBusy(create, async () => {
      try {
        // One's own INS goes with the code: the professional needs both.
        const [c, me] = await Promise.all([access.createCode(pid), own ? auth.me().catch(() => undefined) : undefined]);
        if (ctx.signal.aborted) return;
        showCode(once, c.code, c.expires_at, me?.ins);
        load();
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(accessErrorText(err));
      }
    });
  });
  load();
  return panel(
    'code-acces',
    t('whoCanSee.codeTitle'),
    h('p', { class: 'panel__intro' }, t('whoCanSee.codeIntro')),
    h('ul', { class: 'rights__list' },
      h('li', null, t('whoCanSee.code1')),
      h('li', null, t('whoCanSee.code2')),
      h('li', null, t('whoCanSee.code3')),
    ),
    messages.el,
    h('div', { class: 'form__actions' }, create),
    once,
    h('h3', { class: 'subpanel__title subpanel' }, t('whoCanSee.codesTitle')),
    listBody,
  );
}

/** The new code, once: big, grouped, with its end and what to do with it. */
function showCode(once: HTMLElement, code: string, expiresAt: number, ins?: string): void {
  const grouped = groupCode(code);
  const copy = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('newstaff.copy'));
  const copied = h('span', { class: 'once__copied', role: 'status' });
  copy.addEventListener('click', () => {
    navigator.clipboard?.writeText(grouped).then(
      () => (copied.textContent = t('newstaff.copied')),
      () => (copied.textContent = t('newstaff.copyFailed')),
    );
  });
  // Read out character by character (a screen reader would say "ABCD" as a word).
  const spoken = grouped.split('').map((c) => (c === '-' ? ',' : c)).join(' ');
  mount(
    once,
    h('h3', { class: 'once__title' }, t('whoCanSee.codeDone')),
    h('p', { class: 'access-code__give' }, t('whoCanSee.codeGive')),
    h('p', { class: 'access-code__value' },
      h('code', { class: 'access-code__code', 'data-testid': 'access-code', 'aria-hidden': 'true' }, grouped),
      h('span', { class: 'visually-hidden' }, spoken),
    ),
    ins && h('p', { class: 'access-code__ins' }, t('whoCanSee.yourIns'), ' ', h('span', { class: 'mono', 'data-testid': 'own-ins' }, formatIns(ins))),
    h('p', { class: 'access-code__expiry' }, t('whoCanSee.codeExpires', { when: formatMicros(expiresAt) })),
    h('p', null, copy, ' ', copied),
    h('p', { class: 'once__warn' }, t('whoCanSee.codeOnce')),
  );
  once.hidden = false;
  once.focus();
}

function codeStatusBadge(status: string): HTMLElement {
  const tone = status === 'active' ? 'badge--ok' : status === 'used' ? 'badge--info' : 'badge--muted';
  return h('span', { class: ['badge', tone], 'data-status': status }, t(`whoCanSee.codeStatus.${status}` as 'whoCanSee.codeStatus.active'));
}

function codeList(codes: AccessCode[], pid: string, ctx: PageContext, messages: FormMessages, reload: () => void): Child {
  if (!codes.length) return h('p', { class: 'panel__empty' }, t('whoCanSee.noCodes'));
  const sorted = [...codes].sort((a, b) => b.created_at - a.created_at);
  return h(
    'ul',
    { class: 'rows', role: 'list', 'data-testid': 'codes' },
    sorted.map((c) => {
      const known = ['active', 'used', 'revoked', 'expired', 'void'].includes(c.status);
      const actions = h('div', { class: 'row__actions' });
      if (c.status === 'active') {
        const revoke = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('whoCanSee.revoke'),
          h('span', { class: 'visually-hidden' }, ` ${t('whoCanSee.codeOf', { when: formatMicros(c.created_at) })}`));
        revoke.addEventListener('click', () => {
          messages.clear();
          void whileBusy(revoke, async () => {
            try {
              await access.revokeCode(pid, c.id);
              if (ctx.signal.aborted) return;
              messages.success(t('whoCanSee.revoked'));
              reload();
            } catch (err) {
              if (!ctx.signal.aborted) messages.error(accessErrorText(err));
            }
          });
        });
        actions.append(revoke);
      }
      return h(
        'li',
        { class: 'row', 'data-code': c.id, 'data-status': c.status },
        h('div', { class: 'row__main' },
          h('span', { class: 'row__title' }, t('whoCanSee.codeOf', { when: formatMicros(c.created_at) })),
          known ? codeStatusBadge(c.status) : h('span', { class: 'badge badge--muted' }, c.status),
          c.status === 'used' && c.used_by_name && h('span', { class: 'row__meta' }, t('whoCanSee.usedBy', { name: c.used_by_name })),
          c.status === 'active' && h('span', { class: 'row__meta' }, t('whoCanSee.codeExpires', { when: formatMicros(c.expires_at) })),
        ),
        actions,
      );
    }),
  );
}
