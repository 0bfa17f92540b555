// The second step shared by login, activation, password reset and contact changes: "a code
// was sent to …", a 6-digit field, "send the code again" (after 30 s), clear errors.
import { h } from '../dom';
import { t } from '../i18n';
import { auth, AuthError, type Challenge } from '../api/auth';
import { checkboxField, codeField, errorText, formatWait, formMessages, uid, validate, whileBusy, type Field, type FormMessages } from './form';

export const RESEND_COOLDOWN_S = 30;

export interface CodeStepOptions {
  challenge: Challenge;
  /** Heading of the step (an h2; pages keep their h1). */
  title: string;
  submitLabel: string;
  /** Offer "trust this device for 30 days" (login only). */
  trustDevice?: boolean;
  /** More fields after the code (password reset: the new password). */
  extra?: Field[];
  /** Checks of the extra fields: [field, message or undefined]. */
  checkExtra?: () => [Field, string | undefined][];
  onSubmit(code: string, opts: { trust: boolean }): Promise<void>;
  /** Handle an error specially (a 400 about the new password…); return true when handled. */
  onError?(err: unknown, ui: { code: Field; messages: FormMessages }): boolean;
  back?: { label: string; onClick(): void };
  /** Offer "send the code again" (default: for e-mail and SMS codes). */
  resend?: boolean;
  signal: AbortSignal;
}

export interface CodeStep {
  el: HTMLElement;
  /** Move focus to the step's heading (after it replaced the previous step). */
  focus(): void;
}

export function codeStep(o: CodeStepOptions): CodeStep {
  const { challenge } = o;
  const headingId = uid('step');
  const heading = h('h2', { id: headingId, class: 'step__title', tabindex: '-1' }, o.title);
  const intro =
    challenge.channel === 'totp'
      ? t('code.totp')
      : challenge.to
        ? t('code.sent', { to: challenge.to })
        : t('code.sentNoDest');
  const code = codeField();
  const trust = o.trustDevice
    ? checkboxField({ label: t('code.trust'), name: 'trust', hint: t('code.trustHint') })
    : undefined;
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button' }, o.submitLabel);

  const form = h(
    'form',
    { class: 'form', novalidate: true },
    messages.el,
    code.el,
    o.extra?.map((f) => f.el),
    trust?.el,
    h('div', { class: 'form__actions' }, submit),
  );

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const value = code.value();
    const ok = validate([
      [code, value.length === 0 ? t('code.required') : value.length !== 6 ? t('code.sixDigits') : undefined],
      ...(o.checkExtra?.() ?? []),
    ]);
    if (!ok) return;
    void whileBusy(submit, async () => {
      try {
        await o.onSubmit(value, { trust: trust?.checked() ?? false });
      } catch (err) {
        if (o.signal.aborted) return;
        if (o.onError?.(err, { code, messages })) return;
        if (err instanceof AuthError && err.status === 401) {
          code.setError(t('code.wrong'));
          code.input.select();
          code.focus();
        } else {
          messages.error(errorText(err));
        }
      }
    });
  });

  const parts: (HTMLElement | null)[] = [heading, h('p', { class: 'step__intro' }, intro)];
  if (challenge.channel !== 'totp') parts.push(h('p', { class: 'field__hint' }, t('code.validity')));
  parts.push(form);

  const wantsResend = o.resend ?? challenge.channel !== 'totp';
  if (wantsResend) parts.push(resendBlock(challenge, messages, o.signal));
  if (o.back) {
    const back = h('button', { type: 'button', class: 'button button--link' }, o.back.label);
    back.addEventListener('click', o.back.onClick);
    parts.push(h('p', { class: 'step__back' }, back));
  }
  const el = h('section', { class: 'step', 'aria-labelledby': headingId }, parts);
  return { el, focus: () => heading.focus() };
}

/** "Renvoyer le code": disabled for 30 s after each send, with the time left shown. */
function resendBlock(challenge: Challenge, messages: FormMessages, signal: AbortSignal): HTMLElement {
  const button = h('button', { type: 'button', class: 'button button--secondary' }, t('code.resend'));
  // Updated every second: not a live region (it would talk over everything).
  const wait = h('p', { class: 'field__hint resend__wait', 'aria-live': 'off' });
  let timer: number | undefined;
  const stop = () => {
    if (timer !== undefined) window.clearInterval(timer);
    timer = undefined;
  };
  signal.addEventListener('abort', stop);

  const cooldown = (seconds: number) => {
    stop();
    let left = seconds;
    button.disabled = true;
    const tick = () => {
      if (left <= 0) {
        stop();
        button.disabled = false;
        wait.textContent = '';
        return;
      }
      wait.textContent = t('code.resendIn', { wait: formatWait(left) });
      left--;
    };
    tick();
    timer = window.setInterval(tick, 1000);
  };
  cooldown(RESEND_COOLDOWN_S);

  button.addEventListener('click', () => {
    messages.clear();
    button.disabled = true;
    auth
      .resend(challenge.challenge)
      .then(() => {
        if (signal.aborted) return;
        messages.success(challenge.to ? t('code.resent', { to: challenge.to }) : t('code.resentNoDest'));
        cooldown(RESEND_COOLDOWN_S);
      })
      .catch((err: unknown) => {
        if (signal.aborted) return;
        messages.error(errorText(err));
        const retry = err instanceof AuthError && err.retryAfter ? err.retryAfter : RESEND_COOLDOWN_S;
        cooldown(retry);
      });
  });
  return h('div', { class: 'resend' }, h('p', { class: 'resend__question' }, t('code.notReceived')), button, wait);
}
