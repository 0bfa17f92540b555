// "Confirm it is you" before a sensitive action (closing, deleting, reopening, exporting):
// the password, then a code as at login. The server then allows those actions for 5 minutes.
//   POST /auth/reauth { password }            → { challenge, channel, to }
//   POST /auth/reauth/confirm { challenge, code } → 204
import { h, mount } from '../dom';
import { t } from '../i18n';
import { auth, AuthError, type Session } from '../api/auth';
import { loadSession } from '../session';
import { codeStep } from './code-step';
import { errorText, formMessages, passwordField, uid, validate, whileBusy } from './form';

/** How long the server accepts a sensitive action after the check (docs/AUTH-API.md). */
export const REAUTH_WINDOW_MS = 5 * 60 * 1000;
/** Kept in hand so that an action started just before the end is not refused. */
const MARGIN_MS = 20 * 1000;

export interface ReauthOptions {
  /** Why the check is asked, in a sentence ("Pour fermer votre espace, …"). */
  intro: string;
  signal: AbortSignal;
  onDone(): void;
  onCancel?(): void;
}

export interface ReauthStep {
  el: HTMLElement;
  focus(): void;
}

/** The password form, replaced by the code step once the password is right. */
export function reauthStep(o: ReauthOptions): ReauthStep {
  const headingId = uid('reauth');
  const heading = h('h3', { id: headingId, class: 'step__title', tabindex: '-1' }, t('reauth.title'));
  const password = passwordField({ label: t('reauth.password'), name: 'password', autocomplete: 'current-password' });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, t('reauth.send'));
  const actions = h('div', { class: 'form__actions' }, submit);
  if (o.onCancel) {
    const cancel = h('button', { type: 'button', class: 'button button--secondary' }, t('form.cancel'));
    cancel.addEventListener('click', () => o.onCancel?.());
    actions.append(cancel);
  }
  const form = h('form', { class: 'form form--inline', novalidate: true, 'aria-labelledby': headingId }, messages.el, password.el, actions);
  const el = h('section', { class: 'reauth', 'aria-labelledby': headingId }, heading, h('p', null, o.intro), form);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    if (!validate([[password, password.input.value ? undefined : t('login.password.required')]])) return;
    void whileBusy(submit, async () => {
      try {
        const challenge = await auth.reauth(password.input.value);
        if (o.signal.aborted) return;
        password.input.value = '';
        const step = codeStep({
          challenge,
          title: t('reauth.codeTitle'),
          submitLabel: t('reauth.confirm'),
          signal: o.signal,
          onSubmit: async (code) => {
            await auth.reauthConfirm(challenge.challenge, code);
            if (o.signal.aborted) return;
            confirmedAt = Date.now();
            o.onDone();
          },
          back: o.onCancel ? { label: t('form.cancel'), onClick: () => o.onCancel?.() } : undefined,
        });
        mount(el, step.el);
        step.focus();
      } catch (err) {
        if (o.signal.aborted) return;
        if (err instanceof AuthError && err.status === 401) {
          password.setError(t('password.wrongCurrent'));
          password.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });
  return { el, focus: () => heading.focus() };
}

/** When this tab last completed the check (ms since the epoch), 0 if never. */
let confirmedAt = 0;

/**
 * Whether a sensitive action may go ahead without a new check: the server's word
 * (`recently_authenticated`, asked again now), with some time still left of the window.
 */
export async function freshlyAuthenticated(): Promise<{ fresh: boolean; session: Session | null }> {
  const session = await loadSession(true);
  return { fresh: !!session?.recently_authenticated, session };
}

/**
 * Estimated end of the window (ms), from the session's `auth_time` (set at login and at each
 * check) or this tab's last check, whichever is later; used to offer the check again before a
 * download would be refused.
 */
export function freshUntil(session: Session | null): number {
  const since = Math.max(confirmedAt, session ? Math.floor(session.auth_time / 1000) : 0);
  return since + REAUTH_WINDOW_MS - MARGIN_MS;
}

/**
 * "Rouvrir mon espace" for a closed space (account page and patient home): the identity check
 * if needed, then POST /auth/me/reopen.
 */
export function reopenBlock(ctx: { signal: AbortSignal }, done: () => void): HTMLElement {
  const holder = h('div', { class: 'reopen' });
  const messages = formMessages();
  const button = h('button', { type: 'button', class: 'button' }, t('reopen.button'));
  const start = () => mount(holder, messages.el, button);
  const reopen = async () => {
    try {
      await auth.reopen();
      if (!ctx.signal.aborted) done();
    } catch (err) {
      if (ctx.signal.aborted) return;
      start();
      messages.error(errorText(err));
    }
  };
  button.addEventListener('click', () => {
    messages.clear();
    void whileBusy(button, async () => {
      const { fresh } = await freshlyAuthenticated().catch(() => ({ fresh: false }));
      if (ctx.signal.aborted) return;
      if (fresh) {
        await reopen();
        return;
      }
      const step = reauthStep({
        intro: t('reopen.reauth'),
        signal: ctx.signal,
        onDone: () => void reopen(),
        onCancel: () => {
          start();
          button.focus();
        },
      });
      mount(holder, step.el);
      step.focus();
    });
  });
  start();
  return holder;
}
