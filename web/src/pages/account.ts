// "/patient/compte" and "/pro/compte": the person's account.
//   GET /auth/me                         identity, contacts, second factor
//   POST /auth/me/contact (+ /confirm)   change a contact, confirmed by a code sent to it
//   POST /auth/me/second-factor          e-mail or SMS codes
//   POST /auth/me/totp (+ /confirm, /disable)   authenticator app
//   POST /auth/me/password               password change (other sessions end)
//   GET/DELETE /auth/me/sessions, /auth/me/devices; GET /auth/me/history
// Patients only (the account holder):
//   GET /auth/me/export                  the archive of one's data (a plain download link)
//   POST /auth/me/close, /auth/me/delete, /auth/me/reopen   after POST /auth/reauth (+ /confirm)
import { h, icon, ICONS, mount, type Child } from '../dom';
import { formatDate, formatMicros, isoMicros, t } from '../i18n';
import { cached } from '../cache';
import { auth, AuthError, directory, EXPORT_PATH, type AccountEvent, type ContactChannel, type DeviceEntry, type Me, type SessionEntry } from '../api/auth';
import { errorState, loadingState } from '../components/states';
import { codeStep } from '../components/code-step';
import {
  checkboxField, codeField, errorText, formMessages, passwordField, radioGroup, validate, whileBusy, type Field, type FormMessages,
} from '../components/form';
import { describeAgent, formatIns, formatPhone, historyList, methodText, verifiedBadge } from '../components/account-bits';
import { checkAddress, checkNewPassword, contactInputs, isAddressError, passwordPolicy } from '../components/identity-fields';
import { totpQr } from '../components/qr';
import { freshlyAuthenticated, freshUntil, reauthStep, reopenBlock } from '../components/reauth';
import { clearSession, loadSession, recordsOf } from '../session';
import { navigate } from '../navigation';
import { pathFor, type PageContext, type Renderer } from '../routes';

const HISTORY_VISIBLE = 15;

interface Section {
  el: HTMLElement;
  body: HTMLElement;
}

function section(id: string, title: string, intro?: string): Section {
  const body = h('div', { class: 'panel__body' });
  const el = h(
    'section',
    { class: 'panel', id, 'aria-labelledby': `${id}-title`, tabindex: '-1' },
    h('h2', { id: `${id}-title`, class: 'panel__title' }, title),
    intro && h('p', { class: 'panel__intro' }, intro),
    body,
  );
  return { el, body };
}

export const renderAccount: Renderer = (main, ctx) => {
  const identity = section('identite', t('account.identity'));
  const contacts = section('coordonnees', t('account.contacts'), t('account.contactsIntro'));
  const factor = section('double-authentification', t('account.factor'), t('account.factorIntro'));
  const password = section('mot-de-passe', t('account.password'));
  const sessions = section('sessions', t('account.sessions'), t('account.sessionsIntro'));
  const devices = section('appareils', t('account.devices'), t('account.devicesIntro'));
  const history = section('historique', t('account.history'), t('account.historyIntro'));
  const all = [identity, contacts, factor, password, sessions, devices, history];
  // The holder's own space: export, close, delete (never shown to professionals).
  const holder = ctx.session?.account.kind === 'patient';
  const exporting = holder ? section('export', t('export.title'), t('export.intro')) : undefined;
  const lifecycle = holder ? section('fermeture', t('lifecycle.title'), t('lifecycle.intro')) : undefined;
  if (exporting && lifecycle) all.push(exporting, lifecycle);

  main.append(
    h('h1', { id: 'page-title' }, t('account.title')),
    h('p', { class: 'lead' }, t('account.intro')),
    h(
      'nav',
      { class: 'toc', 'aria-label': t('account.toc') },
      h('ul', { class: 'toc__list', role: 'list' },
        all.map((s) => h('li', null, h('a', { class: 'toc__link', href: `#${s.el.id}` }, s.el.querySelector('h2')!.textContent))),
      ),
    ),
    ...all.map((s) => s.el),
  );

  // After a change, the account and its history are read again (the change is in both).
  let reloadHistory = () => {};
  const changed = () => {
    loadMe();
    reloadHistory();
  };
  const loadMe = () => {
    for (const s of [identity, contacts, factor]) mount(s.body, loadingState(t('state.loading'), true));
    auth
      .me(ctx.signal)
      .then((me) => {
        if (ctx.signal.aborted) return;
        fillIdentity(identity.body, me);
        fillContacts(contacts.body, me, ctx, changed);
        fillFactor(factor.body, me, ctx, changed);
      })
      .catch((err: unknown) => {
        if (ctx.signal.aborted) return;
        mount(identity.body, errorState(err, { compact: true, onRetry: loadMe }));
        contacts.body.replaceChildren();
        factor.body.replaceChildren();
      });
  };
  loadMe();
  const reloadSessions = loadList(sessions.body, ctx, () => auth.sessions(ctx.signal), (list, reload) => sessionsView(list, () => (reload(), reloadHistory()), ctx));
  loadList(devices.body, ctx, () => auth.devices(ctx.signal), (list, reload) => devicesView(list, () => (reload(), reloadHistory()), ctx));
  reloadHistory = loadList(history.body, ctx, () => auth.history(ctx.signal), (list) => historyView(list, ctx));
  // A password change ends the other sessions: the list shows it.
  fillPassword(password.body, ctx, () => (reloadSessions(), reloadHistory()));
  if (exporting) fillExport(exporting.body, ctx);
  if (lifecycle) fillLifecycle(lifecycle.body, ctx);
};

/** Loads a list into `body` now; returns the function that loads it again. */
function loadList<T>(body: HTMLElement, ctx: PageContext, load: () => Promise<T[]>, view: (list: T[], reload: () => void) => Child): () => void {
  const run = () => {
    mount(body, loadingState(t('state.loading'), true));
    load()
      .then((list) => {
        if (!ctx.signal.aborted) mount(body, view(list ?? [], run));
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(body, errorState(err, { compact: true, onRetry: run }));
      });
  };
  run();
  return run;
}

function facts(rows: [string, Child][]): HTMLElement {
  return h(
    'dl',
    { class: 'kv' },
    rows.filter(([, v]) => v !== '' && v !== undefined && v !== null).map(([k, v]) => h('div', { class: 'kv__row' }, h('dt', null, k), h('dd', null, v))),
  );
}

// ---------- identity ----------

function fillIdentity(body: HTMLElement, me: Me): void {
  const rows: [string, Child][] = [
    [t('identity.given'), me.given ?? ''],
    [t('identity.family'), me.family ?? (me.given ? '' : me.display_name ?? '')],
  ];
  if (me.kind === 'patient') {
    rows.push([t('identity.birth'), formatDate(me.birth_date)]);
    rows.push([t('identity.ins'), me.ins ? h('span', { class: 'mono' }, formatIns(me.ins)) : '']);
  }
  if (me.kind === 'professional') {
    rows.push([t('identity.rpps'), me.rpps ? h('span', { class: 'mono' }, me.rpps) : '']);
    rows.push([t('identity.profession'), professionLabel(me)]);
    rows.push([t('identity.specialty'), me.specialty ?? '']);
    rows.push([t('identity.organisation'), me.organisation ?? '']);
  }
  rows.push([t('identity.login'), me.login ?? '']);
  rows.push([t('identity.activated'), formatMicros(me.activated_at, false)]);
  mount(
    body,
    facts(rows),
    h('p', { class: 'panel__note' }, me.kind === 'professional' ? t('identity.notePro') : t('identity.notePatient')),
  );
}

/** The profession in words: from the answer, else from the directory's list (cached). */
function professionLabel(me: Me): Child {
  if (me.profession_label || !me.profession) return me.profession_label ?? '';
  const span = h('span', null, me.profession);
  cached('directory:professions', () => directory.professions())
    .then((list) => {
      const label = list.find((p) => p.code === me.profession)?.label;
      if (label) span.textContent = label;
    })
    .catch(() => undefined /* the code stays: better than nothing */);
  return span;
}

// ---------- contacts ----------

function fillContacts(body: HTMLElement, me: Me, ctx: PageContext, reload: () => void): void {
  const messages = formMessages();
  const row = (channel: ContactChannel) => {
    const value = channel === 'email' ? me.email : formatPhone(me.phone);
    const verified = channel === 'email' ? me.email_verified : me.phone_verified;
    const label = channel === 'email' ? t('contact.emailLabel') : t('contact.smsLabel');
    const editor = h('div', { class: 'contact__editor', id: `contact-${channel}-editor`, hidden: true });
    const toggle = h(
      'button',
      { type: 'button', class: 'button button--secondary button--small', 'aria-expanded': 'false', 'aria-controls': editor.id },
      !value ? t('contact.add') : verified ? t('contact.change') : t('contact.verify'),
      h('span', { class: 'visually-hidden' }, ` ${label}`),
    );
    const close = () => {
      editor.hidden = true;
      editor.replaceChildren();
      toggle.setAttribute('aria-expanded', 'false');
      toggle.focus();
    };
    toggle.addEventListener('click', () => {
      if (!editor.hidden) return close();
      editor.hidden = false;
      toggle.setAttribute('aria-expanded', 'true');
      // An unverified address is offered as is: confirming it is one code away.
      const raw = channel === 'email' ? me.email : me.phone;
      contactEditor(editor, channel, verified ? '' : raw ?? '', ctx, close, () => {
        messages.success(channel === 'email' ? t('contact.doneEmail') : t('contact.doneSms'));
        reload();
      });
    });
    return h(
      'li',
      { class: 'contact', 'data-channel': channel },
      h('div', { class: 'contact__main' },
        h('span', { class: 'contact__label' }, label),
        h('span', { class: 'contact__value' }, value || t('contact.none')),
        value && verifiedBadge(verified),
      ),
      toggle,
      editor,
    );
  };
  mount(body, messages.el, h('ul', { class: 'contacts', role: 'list' }, row('email'), row('sms')));
}

function contactEditor(editor: HTMLElement, channel: ContactChannel, initial: string, ctx: PageContext, close: () => void, done: () => void): void {
  const { address } = contactInputs(channel);
  address.input.value = channel === 'sms' ? formatPhone(initial) : initial;
  // Only the address field: the channel is the row's.
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, t('contact.sendCode'));
  const cancel = h('button', { type: 'button', class: 'button button--secondary' }, t('form.cancel'));
  cancel.addEventListener('click', close);
  const form = h('form', { class: 'form form--inline', novalidate: true }, messages.el, address.el, h('div', { class: 'form__actions' }, submit, cancel));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!validate([[address, checkAddress(channel, address.value())]])) return;
    void whileBusy(submit, async () => {
      try {
        const challenge = await auth.startContact(channel, address.value());
        if (ctx.signal.aborted) return;
        const step = codeStep({
          challenge,
          title: channel === 'email' ? t('contact.confirmEmail') : t('contact.confirmSms'),
          submitLabel: t('contact.confirm'),
          signal: ctx.signal,
          onSubmit: async (code) => {
            await auth.confirmContact(challenge.challenge, code);
            if (!ctx.signal.aborted) done();
          },
          back: { label: t('form.cancel'), onClick: close },
        });
        mount(editor, step.el);
        step.focus();
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && err.status === 400 && isAddressError(err)) {
          address.setError(err.diagnostics[0] ?? t('contact.invalid'));
          address.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  mount(editor, form);
  address.focus();
}

// ---------- second factor ----------

function fillFactor(body: HTMLElement, me: Me, ctx: PageContext, reload: () => void): void {
  const messages = formMessages();
  const current =
    me.totp_enabled && me.second_factor === 'totp'
      ? t('factor.currentTotp')
      : me.second_factor === 'sms'
        ? t('factor.currentSms', { to: formatPhone(me.phone) })
        : t('factor.currentEmail', { to: me.email ?? '' });

  const group = radioGroup({
    legend: t('factor.legend'),
    name: 'second-factor',
    value: me.second_factor === 'sms' ? 'sms' : me.second_factor === 'email' ? 'email' : undefined,
    options: [
      { value: 'email', label: t('factor.email'), disabled: !me.email_verified, hint: me.email_verified ? undefined : t('factor.needEmail') },
      { value: 'sms', label: t('factor.sms'), disabled: !me.phone_verified, hint: me.phone_verified ? undefined : t('factor.needSms') },
    ],
  });
  const save = h('button', { type: 'submit', class: 'button button--secondary' }, t('factor.save'));
  const form = h('form', { class: 'form form--inline', novalidate: true }, group.el, h('div', { class: 'form__actions' }, save));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const channel = group.value();
    if (!validate([[group, channel ? undefined : t('factor.choose')]])) return;
    void whileBusy(save, async () => {
      try {
        await auth.setSecondFactor(channel === 'sms' ? 'sms' : 'email');
        if (ctx.signal.aborted) return;
        reload();
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(errorText(err));
      }
    });
  });

  const app = h('div', { class: 'subpanel' }, h('h3', { class: 'subpanel__title' }, t('totp.title')));
  if (me.totp_enabled) totpDisable(app, ctx, reload);
  else totpOffer(app, ctx, reload);

  mount(body, messages.el, h('p', { class: 'factor__current' }, icon(ICONS.key), h('span', null, current)), form, app);
}

function totpOffer(app: HTMLElement, ctx: PageContext, reload: () => void): void {
  const messages = formMessages();
  const start = h('button', { type: 'button', class: 'button button--secondary' }, t('totp.start'));
  const area = h('div', { class: 'totp' });
  start.addEventListener('click', () => {
    messages.clear();
    void whileBusy(start, async () => {
      try {
        const enrolment = await auth.startTotp();
        if (ctx.signal.aborted) return;
        start.hidden = true;
        totpEnrol(area, enrolment.secret, enrolment.otpauth_uri, ctx, reload, () => {
          area.replaceChildren();
          start.hidden = false;
          start.focus();
        });
      } catch (err) {
        if (!ctx.signal.aborted) messages.error(errorText(err));
      }
    });
  });
  app.append(h('p', null, t('totp.offer')), messages.el, start, area);
}

/** "JBSW Y3DP EHPK 3PXP": the secret in groups of four, easier to type. */
export function groupSecret(secret: string): string {
  return secret.replace(/\s/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function totpEnrol(area: HTMLElement, secret: string, uri: string, ctx: PageContext, reload: () => void, cancel: () => void): void {
  const code = codeField(t('totp.codeLabel'));
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, t('totp.confirm'));
  const back = h('button', { type: 'button', class: 'button button--secondary' }, t('form.cancel'));
  back.addEventListener('click', cancel);
  const form = h('form', { class: 'form form--inline', novalidate: true }, messages.el, code.el, h('div', { class: 'form__actions' }, submit, back));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const value = code.value();
    if (!validate([[code, value.length === 6 ? undefined : t('code.sixDigits')]])) return;
    void whileBusy(submit, async () => {
      try {
        await auth.confirmTotp(value);
        if (!ctx.signal.aborted) reload();
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && (err.status === 401 || err.status === 400)) {
          code.setError(t('code.wrong'));
          code.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  const qr = totpQr(uri);
  const title = h('h4', { class: 'totp__title', tabindex: '-1' }, t('totp.stepsTitle'));
  mount(
    area,
    title,
    h('ol', { class: 'totp__steps' },
      h('li', null, t('totp.step1')),
      h('li', null,
        t('totp.step2'),
        qr && h('div', { class: 'totp__qr' }, qr),
        h('p', { class: 'totp__or' }, t('totp.orKey')),
        h('p', null, h('code', { class: 'totp__secret', 'data-testid': 'totp-secret' }, groupSecret(secret))),
        // Only an otpauth: link is offered (never a javascript: or web address from elsewhere).
        /^otpauth:\/\//i.test(uri) && h('p', null, h('a', { href: uri, class: 'totp__link' }, t('totp.openApp'))),
      ),
      h('li', null, t('totp.step3')),
    ),
    form,
  );
  title.focus();
}

function totpDisable(app: HTMLElement, ctx: PageContext, reload: () => void): void {
  const pw = passwordField({ label: t('totp.disablePassword'), name: 'password', autocomplete: 'current-password' });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button button--danger-outline' }, t('totp.disable'));
  const form = h('form', { class: 'form form--inline', novalidate: true }, messages.el, pw.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!validate([[pw, pw.input.value ? undefined : t('login.password.required')]])) return;
    void whileBusy(submit, async () => {
      try {
        await auth.disableTotp(pw.input.value);
        if (!ctx.signal.aborted) reload();
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && (err.status === 401 || err.status === 403)) {
          pw.setError(t('password.wrongCurrent'));
          pw.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  app.append(h('p', null, verifiedBadge(true), ' ', t('totp.enabled')), form);
}

// ---------- password ----------

function fillPassword(body: HTMLElement, ctx: PageContext, changed: () => void): void {
  const current = passwordField({ label: t('password.current'), name: 'current-password', autocomplete: 'current-password' });
  const next = passwordField({ label: t('password.new'), name: 'new-password', hint: passwordPolicy(), autocomplete: 'new-password' });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, t('password.submit'));
  const form = h('form', { class: 'form form--inline', novalidate: true }, messages.el, current.el, next.el, h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const ok = validate([
      [current, current.input.value ? undefined : t('password.currentRequired')],
      [next, checkNewPassword(next.input.value)],
    ]);
    if (!ok) return;
    void whileBusy(submit, async () => {
      try {
        await auth.changePassword(current.input.value, next.input.value);
        if (ctx.signal.aborted) return;
        current.input.value = '';
        next.input.value = '';
        messages.success(t('password.done'));
        changed();
      } catch (err) {
        if (ctx.signal.aborted) return;
        passwordError(err, current, next, messages);
      }
    });
  });
  mount(body, form);
}

function passwordError(err: unknown, current: Field, next: Field, messages: FormMessages): void {
  if (err instanceof AuthError && (err.status === 401 || err.status === 403)) {
    current.setError(t('password.wrongCurrent'));
    current.focus();
  } else if (err instanceof AuthError && err.status === 400) {
    next.setError(err.diagnostics[0] ?? t('password.rejected'));
    next.focus();
  } else {
    messages.error(errorText(err));
  }
}

// ---------- sessions, devices, history ----------

function sessionsView(list: SessionEntry[], reload: () => void, ctx: PageContext): Child {
  if (!list.length) return h('p', { class: 'panel__empty' }, t('sessions.empty'));
  const messages = formMessages();
  const sorted = [...list].sort((a, b) => Number(!!b.current) - Number(!!a.current) || (b.last_seen_at ?? 0) - (a.last_seen_at ?? 0));
  return [
    messages.el,
    h(
      'ul',
      { class: 'rows', role: 'list' },
      sorted.map((s) => {
        const device = describeAgent(s.user_agent);
        let action: Child = null;
        if (s.current) {
          action = h('span', { class: 'badge badge--current' }, t('sessions.current'));
        } else {
          const button = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('sessions.revoke'), h('span', { class: 'visually-hidden' }, ` ${t('sessions.revokeWhat', { device })}`));
          button.addEventListener('click', () => {
            messages.clear();
            void whileBusy(button, async () => {
              try {
                await auth.revokeSession(s.handle);
                if (!ctx.signal.aborted) reload();
              } catch (err) {
                if (!ctx.signal.aborted) messages.error(errorText(err));
              }
            });
          });
          action = button;
        }
        return h(
          'li',
          { class: ['row', s.current && 'row--current'], 'data-handle': s.handle },
          h('div', { class: 'row__main' },
            h('span', { class: 'row__title' }, device),
            h('span', { class: 'row__meta' }, methodText(s.method)),
            h('span', { class: 'row__meta' },
              t('sessions.since', { when: formatMicros(s.created_at) }),
              s.last_seen_at ? ` · ${t('sessions.lastSeen', { when: formatMicros(s.last_seen_at) })}` : '',
            ),
            s.ip && h('span', { class: 'row__meta' }, t('sessions.ip', { ip: s.ip })),
          ),
          action,
        );
      }),
    ),
  ];
}

function devicesView(list: DeviceEntry[], reload: () => void, ctx: PageContext): Child {
  if (!list.length) return h('p', { class: 'panel__empty' }, t('devices.empty'));
  const messages = formMessages();
  return [
    messages.el,
    h(
      'ul',
      { class: 'rows', role: 'list' },
      list.map((d) => {
        // The label may be a raw User-Agent: shown as "Firefox · Linux" then.
        const name = !d.label ? t('sessions.unknownDevice') : /Mozilla|AppleWebKit/.test(d.label) ? describeAgent(d.label) : d.label;
        const button = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('devices.remove'), h('span', { class: 'visually-hidden' }, ` ${name}`));
        button.addEventListener('click', () => {
          messages.clear();
          void whileBusy(button, async () => {
            try {
              await auth.revokeDevice(d.handle);
              if (!ctx.signal.aborted) reload();
            } catch (err) {
              if (!ctx.signal.aborted) messages.error(errorText(err));
            }
          });
        });
        return h(
          'li',
          { class: 'row', 'data-handle': d.handle },
          h('div', { class: 'row__main' },
            h('span', { class: 'row__title' }, name),
            h('span', { class: 'row__meta' }, t('devices.added', { when: formatMicros(d.created_at, false) })),
            d.last_used_at && h('span', { class: 'row__meta' }, t('devices.lastUsed', { when: formatMicros(d.last_used_at) })),
            d.expires_at && h('span', { class: 'row__meta' }, h('time', { datetime: isoMicros(d.expires_at) }, t('devices.expires', { when: formatMicros(d.expires_at, false) }))),
          ),
          button,
        );
      }),
    ),
  ];
}

function historyView(list: AccountEvent[], ctx: PageContext): Child {
  if (!list.length) return h('p', { class: 'panel__empty' }, t('history.empty'));
  const events = [...list].sort((a, b) => b.at - a.at);
  const ownKind = ctx.session?.account.kind;
  const holder = h('div', null, historyList(events.slice(0, HISTORY_VISIBLE), ownKind));
  if (events.length <= HISTORY_VISIBLE) return holder;
  const more = h('button', { type: 'button', class: 'button button--link', 'aria-expanded': 'false' }, t('record.more', { n: events.length - HISTORY_VISIBLE }));
  let open = false;
  more.addEventListener('click', () => {
    open = !open;
    mount(holder, historyList(open ? events : events.slice(0, HISTORY_VISIBLE), ownKind));
    more.setAttribute('aria-expanded', String(open));
    more.textContent = open ? t('record.less') : t('record.more', { n: events.length - HISTORY_VISIBLE });
  });
  return [holder, more];
}

// ---------- export ----------

/**
 * The archive: a plain link (the session cookie goes along). The server wants a recent
 * identity check: when it is not (or no longer) fresh, the check comes first.
 */
function fillExport(body: HTMLElement, ctx: PageContext): void {
  const others = recordsOf(ctx.session).some((r) => r.relation !== 'self');
  const contents = h(
    'div',
    null,
    h('p', null, t('export.contains')),
    h('ul', { class: 'export__list' },
      h('li', null, h('span', { class: 'mono' }, 'carnet-export.json'), ' — ', t('export.record')),
      h('li', null, h('span', { class: 'mono' }, 'compte.json'), ' — ', t('export.account')),
      h('li', null, h('span', { class: 'mono' }, 'LISEZMOI.txt'), ' — ', t('export.readme')),
    ),
    others && h('p', { class: 'panel__note' }, t('export.onlyOwn')),
  );
  const area = h('div', { class: 'export__action' });
  const messages = formMessages();
  mount(body, contents, messages.el, area);

  const showLink = () => {
    const link = h(
      'a',
      { class: 'button', href: EXPORT_PATH, download: 'carnet-export.zip', 'data-testid': 'export-link' },
      icon(ICONS.document),
      h('span', null, t('export.download')),
    );
    link.addEventListener('click', (ev) => {
      // The identity check has run out meanwhile: ask again rather than download a refusal.
      if (Date.now() > freshUntil(ctx.session) && !stillFresh) {
        ev.preventDefault();
        messages.error(t('export.again'));
        showCheck();
      }
    });
    mount(area, link, h('p', { class: 'field__hint' }, t('export.hint')));
  };
  let stillFresh = false;
  const showCheck = () => {
    const step = reauthStep({
      intro: t('export.reauth'),
      signal: ctx.signal,
      onDone: () => {
        messages.clear();
        stillFresh = true;
        // The window is counted from now: the link works for the next few minutes.
        window.setTimeout(() => (stillFresh = false), 4 * 60 * 1000);
        showLink();
        area.querySelector<HTMLElement>('a')?.focus();
      },
    });
    mount(area, step.el);
  };
  mount(area, loadingState(t('state.loading'), true));
  freshlyAuthenticated()
    .then(({ fresh, session }) => {
      if (ctx.signal.aborted) return;
      if (session) ctx.session = session;
      if (fresh) showLink();
      else showCheck();
    })
    .catch(() => {
      if (!ctx.signal.aborted) showCheck();
    });
}

// ---------- close, delete, reopen ----------

type LifeAction = 'close' | 'delete';

function fillLifecycle(body: HTMLElement, ctx: PageContext, notice?: string): void {
  const closed = ctx.session?.account.status === 'closed';
  const messages = formMessages();
  if (notice) messages.success(notice);

  const consequences = (action: LifeAction) =>
    h('div', { class: 'consequence', 'data-action': action },
      h('h3', { class: 'consequence__title' }, action === 'close' ? t('lifecycle.closeTitle') : t('lifecycle.deleteTitle')),
      h('ul', { class: 'consequence__list' },
        action === 'close'
          ? [h('li', null, t('lifecycle.close1')), h('li', null, t('lifecycle.close2')), h('li', null, t('lifecycle.close3'))]
          : [h('li', null, t('lifecycle.delete1')), h('li', null, t('lifecycle.delete2')), h('li', null, t('lifecycle.delete3'))],
      ),
    );

  const flow = h('div', { class: 'lifecycle__flow' });
  const group = radioGroup({
    legend: t('lifecycle.choose'),
    name: 'lifecycle',
    options: closed
      ? [{ value: 'delete', label: t('lifecycle.optionDelete') }]
      : [
          { value: 'close', label: t('lifecycle.optionClose') },
          { value: 'delete', label: t('lifecycle.optionDelete') },
        ],
    value: closed ? 'delete' : undefined,
  });
  const next = h('button', { type: 'submit', class: 'button button--secondary' }, t('lifecycle.next'));
  const chooser = h('form', { class: 'form form--inline', novalidate: true }, group.el, h('div', { class: 'form__actions' }, next));
  const restart = () => {
    mount(flow, chooser);
    next.focus();
  };
  chooser.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const action = group.value() as LifeAction | '';
    if (!validate([[group, action ? undefined : t('lifecycle.chooseRequired')]])) return;
    void whileBusy(next, async () => {
      const { fresh, session } = await freshlyAuthenticated().catch(() => ({ fresh: false, session: null }));
      if (ctx.signal.aborted) return;
      if (session) ctx.session = session;
      const confirmStep = () => lifecycleConfirm(flow, action as LifeAction, ctx, restart, () => askCheck());
      const askCheck = () => {
        const step = reauthStep({
          intro: action === 'close' ? t('lifecycle.reauthClose') : t('lifecycle.reauthDelete'),
          signal: ctx.signal,
          onDone: confirmStep,
          onCancel: restart,
        });
        mount(flow, step.el);
        step.focus();
      };
      if (fresh) confirmStep();
      else askCheck();
    });
  });
  mount(flow, chooser);

  mount(
    body,
    messages.el,
    closed && h('div', { class: 'notice notice--info' }, t('lifecycle.isClosed')),
    closed && reopenBlock(ctx, () => {
      void loadSession(true).then((s) => {
        if (ctx.signal.aborted) return;
        ctx.session = s;
        fillLifecycle(body, ctx, t('reopen.done'));
      });
    }),
    !closed && consequences('close'),
    consequences('delete'),
    flow,
  );
}

/** The explicit confirmation, then the action; the session ends with it. */
function lifecycleConfirm(flow: HTMLElement, action: LifeAction, ctx: PageContext, restart: () => void, reauth: () => void): void {
  const headingId = 'lifecycle-confirm-title';
  const heading = h('h3', { id: headingId, class: 'step__title', tabindex: '-1' }, action === 'close' ? t('lifecycle.confirmCloseTitle') : t('lifecycle.confirmDeleteTitle'));
  const check = checkboxField({
    label: action === 'close' ? t('lifecycle.confirmClose') : t('lifecycle.confirmDelete'),
    name: 'confirm',
    hint: t('lifecycle.confirmHint'),
  });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button button--danger' }, action === 'close' ? t('lifecycle.doClose') : t('lifecycle.doDelete'));
  const cancel = h('button', { type: 'button', class: 'button button--secondary' }, t('form.cancel'));
  cancel.addEventListener('click', restart);
  const form = h('form', { class: 'form form--inline', novalidate: true, 'aria-labelledby': headingId }, messages.el, check.el, h('div', { class: 'form__actions' }, submit, cancel));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!validate([[check, check.checked() ? undefined : t('lifecycle.confirmRequired')]])) return;
    void whileBusy(submit, async () => {
      try {
        if (action === 'close') await auth.close();
        else await auth.deleteAccount();
        // Every session ended with it, this one too.
        clearSession();
        navigate(action === 'close' ? pathFor('closed') : `${pathFor('closed')}?suppression=1`, { replace: true });
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof AuthError && err.status === 403) {
          // The identity check ran out meanwhile (or never happened): ask again.
          const { fresh } = await freshlyAuthenticated().catch(() => ({ fresh: false }));
          if (!fresh) {
            reauth();
            return;
          }
        }
        messages.error(errorText(err));
      }
    });
  });
  mount(flow, h('section', { class: 'lifecycle__confirm', 'aria-labelledby': headingId }, heading, form));
  heading.focus();
}
