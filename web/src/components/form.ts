// Accessible form pieces shared by the identity pages: every field has a visible label, an
// optional hint and an error message, both tied to the input with aria-describedby; the
// error sets aria-invalid. Forms use `novalidate`: messages are ours, in the person's language.
import { h, type Child } from '../dom';
import { t, tn } from '../i18n';
import { AuthError } from '../api/auth';
import { FhirError } from '../api/fhir';

let seq = 0;
/** A page-unique id. */
export function uid(prefix: string): string {
  return `${prefix}-${++seq}`;
}

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface Field<C extends Control = HTMLInputElement> {
  el: HTMLElement;
  input: C;
  value(): string;
  setError(message: string | undefined): void;
  /** Focus the control (first invalid field, server error). */
  focus(): void;
}

export interface FieldOptions {
  label: string;
  name: string;
  type?: 'text' | 'email' | 'tel' | 'password' | 'search' | 'date';
  hint?: Child;
  autocomplete?: string;
  inputmode?: 'text' | 'numeric' | 'email' | 'tel' | 'search';
  /** Shown as "(facultatif)" after the label. */
  optional?: boolean;
  value?: string;
  maxlength?: number;
  pattern?: string;
  spellcheck?: boolean;
  autocapitalize?: 'off' | 'none' | 'characters' | 'words';
  class?: string;
}

function wire<C extends Control>(wrap: HTMLElement, input: C, hintId: string | undefined, errorEl: HTMLElement): Field<C> {
  const describe = () => {
    const ids = [hintId, errorEl.hidden ? undefined : errorEl.id].filter(Boolean).join(' ');
    if (ids) input.setAttribute('aria-describedby', ids);
    else input.removeAttribute('aria-describedby');
  };
  describe();
  const setError = (message: string | undefined) => {
    errorEl.textContent = message ?? '';
    errorEl.hidden = !message;
    wrap.classList.toggle('field--error', !!message);
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    describe();
  };
  // Once the person corrects the field, the old message goes (the next submit checks again).
  input.addEventListener(input instanceof HTMLSelectElement || (input instanceof HTMLInputElement && input.type === 'checkbox') ? 'change' : 'input', () => {
    if (!errorEl.hidden) setError(undefined);
  });
  return {
    el: wrap,
    input,
    value: () => input.value.trim(),
    setError,
    focus: () => input.focus(),
  };
}

function labelText(label: string, optional?: boolean): Child[] {
  return [label, optional ? h('span', { class: 'field__optional' }, ` ${t('form.optional')}`) : null];
}

function errorNode(id: string): HTMLElement {
  // role=alert: a message filled in after a submit is read out at once.
  return h('p', { id, class: 'field__error', role: 'alert', hidden: true });
}

export function textField(o: FieldOptions): Field {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : undefined;
  const input = h('input', {
    id,
    name: o.name,
    type: o.type ?? 'text',
    class: ['input', o.class],
    autocomplete: o.autocomplete ?? 'off',
    inputmode: o.inputmode,
    required: !o.optional,
    maxlength: o.maxlength,
    pattern: o.pattern,
    spellcheck: o.spellcheck === undefined ? null : String(o.spellcheck),
    autocapitalize: o.autocapitalize,
    value: o.value,
  });
  const err = errorNode(`${id}-error`);
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { class: 'field__label', for: id }, labelText(o.label, o.optional)),
    o.hint && h('p', { id: hintId, class: 'field__hint' }, o.hint),
    err,
    input,
  );
  return wire(wrap, input, hintId, err);
}

/** A multi-line field (a reason, a note), with an optional minimum length said in the hint. */
export function textAreaField(o: { label: string; name: string; hint?: Child; optional?: boolean; value?: string; rows?: number; maxlength?: number; minlength?: number }): Field<HTMLTextAreaElement> {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : undefined;
  const area = h('textarea', {
    id,
    name: o.name,
    class: 'input textarea',
    rows: o.rows ?? 4,
    required: !o.optional,
    maxlength: o.maxlength,
    minlength: o.minlength,
  });
  if (o.value) area.value = o.value;
  const err = errorNode(`${id}-error`);
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { class: 'field__label', for: id }, labelText(o.label, o.optional)),
    o.hint && h('p', { id: hintId, class: 'field__hint' }, o.hint),
    err,
    area,
  );
  return wire(wrap, area, hintId, err);
}

/** A password field with a show/hide button (the password stays in a password input otherwise). */
export function passwordField(o: Omit<FieldOptions, 'type'>): Field {
  const f = textField({ ...o, type: 'password', spellcheck: false, autocapitalize: 'none' });
  const state = h('span', null, t('form.password.show'));
  const toggle = h(
    'button',
    { type: 'button', class: 'password-toggle', 'aria-controls': f.input.id },
    state,
    h('span', { class: 'visually-hidden' }, ` ${t('form.password.what')}`),
  );
  toggle.addEventListener('click', () => {
    const show = f.input.type === 'password';
    f.input.type = show ? 'text' : 'password';
    state.textContent = show ? t('form.password.hide') : t('form.password.show');
  });
  const row = h('div', { class: 'password-row' });
  f.input.replaceWith(row);
  row.append(f.input, toggle);
  return f;
}

/** The 6-digit code of a challenge: numeric keypad, and the OS may fill it from the SMS/mail. */
export function codeField(label = t('code.label')): Field {
  const f = textField({
    label,
    name: 'code',
    hint: t('code.hint'),
    autocomplete: 'one-time-code',
    inputmode: 'numeric',
    maxlength: 7,
    pattern: '[0-9 ]*',
    class: 'input--code',
    spellcheck: false,
  });
  return { ...f, value: () => f.input.value.replace(/\D/g, '') };
}

export interface SelectOption {
  value: string;
  label: string;
}

export function selectField(o: { label: string; name: string; options: SelectOption[]; value?: string; hint?: Child; optional?: boolean }): Field<HTMLSelectElement> {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : undefined;
  const select = h(
    'select',
    { id, name: o.name, class: 'input select', required: !o.optional },
    o.options.map((opt) => h('option', { value: opt.value, selected: opt.value === o.value }, opt.label)),
  );
  const err = errorNode(`${id}-error`);
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { class: 'field__label', for: id }, labelText(o.label, o.optional)),
    o.hint && h('p', { id: hintId, class: 'field__hint' }, o.hint),
    err,
    select,
  );
  return wire(wrap, select, hintId, err);
}

export function checkboxField(o: { label: string; name: string; hint?: Child; checked?: boolean }): Field & { checked(): boolean } {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : undefined;
  const input = h('input', { id, name: o.name, type: 'checkbox', class: 'checkbox__input', checked: !!o.checked });
  const err = errorNode(`${id}-error`);
  const wrap = h(
    'div',
    { class: 'field field--checkbox' },
    err,
    h(
      'div',
      { class: 'checkbox' },
      input,
      h('div', { class: 'checkbox__text' },
        h('label', { class: 'checkbox__label', for: id }, o.label),
        o.hint && h('p', { id: hintId, class: 'field__hint' }, o.hint),
      ),
    ),
  );
  const f = wire(wrap, input, hintId, err);
  return { ...f, checked: () => input.checked };
}

export interface RadioGroup {
  el: HTMLFieldSetElement;
  value(): string;
  inputs: HTMLInputElement[];
  setError(message: string | undefined): void;
  focus(): void;
}

export function radioGroup(o: {
  legend: string;
  name: string;
  options: (SelectOption & { hint?: string; disabled?: boolean })[];
  value?: string;
  hint?: string;
}): RadioGroup {
  const gid = uid(`g-${o.name}`);
  const hintId = o.hint ? `${gid}-hint` : undefined;
  const err = errorNode(`${gid}-error`);
  const inputs: HTMLInputElement[] = [];
  const fs = h(
    'fieldset',
    { class: 'field fieldset', 'aria-describedby': hintId },
    h('legend', { class: 'field__label' }, o.legend),
    o.hint && h('p', { id: hintId, class: 'field__hint' }, o.hint),
    err,
    h(
      'div',
      { class: 'radios' },
      o.options.map((opt) => {
        const id = uid(`r-${o.name}`);
        const optHint = opt.hint ? `${id}-hint` : undefined;
        const input = h('input', {
          id,
          type: 'radio',
          name: o.name,
          value: opt.value,
          class: 'checkbox__input',
          checked: opt.value === o.value,
          disabled: !!opt.disabled,
          'aria-describedby': optHint,
        });
        inputs.push(input);
        return h(
          'div',
          { class: 'checkbox' },
          input,
          h('div', { class: 'checkbox__text' },
            h('label', { class: 'checkbox__label', for: id }, opt.label),
            opt.hint && h('p', { id: optHint, class: 'field__hint' }, opt.hint),
          ),
        );
      }),
    ),
  );
  return {
    el: fs,
    inputs,
    value: () => inputs.find((i) => i.checked)?.value ?? '',
    setError(message) {
      err.textContent = message ?? '';
      err.hidden = !message;
      fs.classList.toggle('field--error', !!message);
      fs.setAttribute('aria-describedby', [hintId, message ? err.id : undefined].filter(Boolean).join(' '));
    },
    focus: () => (inputs.find((i) => i.checked) ?? inputs.find((i) => !i.disabled))?.focus(),
  };
}

/** A form's own messages: errors (role=alert) and confirmations (role=status). */
export interface FormMessages {
  el: HTMLElement;
  error(message: Child): void;
  success(message: Child): void;
  clear(): void;
}

export function formMessages(): FormMessages {
  const alert = h('div', { class: 'form-alert', role: 'alert' });
  const status = h('div', { class: 'form-status', role: 'status' });
  const set = (target: HTMLElement, other: HTMLElement, message: Child, cls: string) => {
    other.replaceChildren();
    other.classList.remove('is-shown');
    target.replaceChildren();
    const inner = h('p', { class: `notice ${cls}` }, message);
    target.append(inner);
    target.classList.add('is-shown');
  };
  return {
    el: h('div', { class: 'form-messages' }, alert, status),
    error: (m) => set(alert, status, m, 'notice--error'),
    success: (m) => set(status, alert, m, 'notice--success'),
    clear() {
      alert.replaceChildren();
      status.replaceChildren();
      alert.classList.remove('is-shown');
      status.classList.remove('is-shown');
    },
  };
}

/** Runs `fn` with the button disabled and marked busy; re-enabled afterwards. */
export async function whileBusy<T>(button: HTMLButtonElement, fn: () => Promise<T>): Promise<T> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.classList.add('is-busy');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.classList.remove('is-busy');
  }
}

/** "2 minutes", "45 secondes", "1 minute" — a wait in words. */
export function formatWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return tn('wait.seconds', s);
  const minutes = Math.ceil(s / 60);
  if (minutes < 120) return tn('wait.minutes', minutes);
  return tn('wait.hours', Math.ceil(minutes / 60));
}

/**
 * The sentence to show for a failed request: a network failure, a throttle (with the wait),
 * else the server's own French sentence, else `fallback` for this status, else a generic one.
 */
export function errorText(err: unknown, fallback: Partial<Record<number, string>> = {}): string {
  if (!(err instanceof FhirError)) return t('error.network');
  if (err.kind === 'network') return t('error.network');
  if (err.kind === 'parse') return t('error.badResponse');
  if (err.status === 429) {
    const wait = err instanceof AuthError ? err.retryAfter : undefined;
    return wait ? t('auth.error.tooManyWait', { wait: formatWait(wait) }) : t('auth.error.tooMany');
  }
  const own = fallback[err.status];
  if (own) return own;
  if (err.diagnostics[0]) return err.diagnostics[0];
  if (err.status === 403) return t('error.forbidden');
  return t('error.http', { status: err.status });
}

/** Field checks before sending: shows each message, focuses the first invalid field. */
export function validate(checks: [{ setError(m: string | undefined): void; focus(): void }, string | undefined][]): boolean {
  let first: (() => void) | undefined;
  for (const [field, message] of checks) {
    field.setError(message);
    if (message && !first) first = () => field.focus();
  }
  first?.();
  return !first;
}

/** Digits only, for INS / RPPS typed with spaces or dots. */
export function digits(value: string): string {
  return value.replace(/[\s.\-]/g, '');
}

/**
 * An identifier as the server expects it: an INS (15 characters, Corsica's 2A/2B) or an RPPS
 * (11 digits) typed with spaces or dots is sent compact; an e-mail or user name as typed.
 */
export function normalizeLogin(value: string): string {
  const v = value.trim();
  const compact = digits(v).toUpperCase();
  if (/^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$/.test(compact) || /^[0-9]{11}$/.test(compact)) return compact;
  return v;
}
