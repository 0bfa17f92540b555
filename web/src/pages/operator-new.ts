// "/operateur/nouveau-compte" (admins): add a professional to the directory, add an advisor or
// an admin. The staff activation code is shown once, to hand over by a safe means.
//   POST /admin/professionals { rpps, given, family, profession, specialty, organisation, email } → 201
//   POST /admin/staff { kind, login, given, family, email } → 201 { activation_code }
import { h, mount } from '../dom';
import { t } from '../i18n';
import { admin, AuthError, directory } from '../api/auth';
import { cached } from '../cache';
import { errorState, loadingState } from '../components/states';
import { digits, errorText, formMessages, radioGroup, selectField, textField, validate, whileBusy, type Field, type FormMessages } from '../components/form';
import type { PageContext, Renderer } from '../routes';
import { checkAddress } from '../components/identity-fields';

/** RPPS: 11 digits, the last a Luhn check digit (as the server checks). */
export function isValidRpps(value: string): boolean {
  if (!/^\d{11}$/.test(value)) return false;
  let sum = 0;
  for (let i = 0; i < 11; i++) {
    let d = Number(value[10 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export const renderNewAccounts: Renderer = (main, ctx) => {
  const pro = h('section', { class: 'panel', 'aria-labelledby': 'new-pro' }, h('h2', { id: 'new-pro', class: 'panel__title' }, t('newpro.title')), h('p', { class: 'panel__intro' }, t('newpro.intro')));
  const staff = h('section', { class: 'panel', 'aria-labelledby': 'new-staff' }, h('h2', { id: 'new-staff', class: 'panel__title' }, t('newstaff.title')), h('p', { class: 'panel__intro' }, t('newstaff.intro')));
  main.append(h('h1', { id: 'page-title' }, t('page.operator.new')), h('p', { class: 'lead' }, t('newaccount.intro')), pro, staff);
  professionalForm(pro, ctx);
  staffForm(staff, ctx);
};

/** A 400 that names a field goes under it; anything else above the form. */
function showError(err: unknown, fields: Record<string, Field<HTMLInputElement | HTMLSelectElement>>, messages: FormMessages): void {
  if (err instanceof AuthError && err.status === 400 && err.field && fields[err.field]) {
    fields[err.field]!.setError(err.diagnostics[0] ?? t('form.invalid'));
    fields[err.field]!.focus();
    return;
  }
  messages.error(errorText(err, { 409: t('newaccount.exists') }));
}

function professionalForm(panel: HTMLElement, ctx: PageContext): void {
  const slot = h('div', null, loadingState(t('directory.loadingProfessions'), true));
  panel.append(slot);
  const load = () => {
    mount(slot, loadingState(t('directory.loadingProfessions'), true));
    cached('directory:professions', () => directory.professions())
      .then((list) => {
        if (ctx.signal.aborted) return;
        const f = {
          rpps: textField({ label: t('newpro.rpps'), name: 'rpps', hint: t('newpro.rppsHint'), inputmode: 'numeric', maxlength: 14, class: 'input--mono' }),
          given: textField({ label: t('identity.given'), name: 'given', autocomplete: 'off' }),
          family: textField({ label: t('identity.family'), name: 'family', autocomplete: 'off' }),
          profession: selectField({ label: t('identity.profession'), name: 'profession', options: [{ value: '', label: t('newpro.chooseProfession') }, ...list.map((p) => ({ value: p.code, label: p.label }))] }),
          specialty: textField({ label: t('identity.specialty'), name: 'specialty', optional: true }),
          organisation: textField({ label: t('identity.organisation'), name: 'organisation', optional: true, hint: t('newpro.organisationHint') }),
          email: textField({ label: t('contact.emailLabel'), name: 'email', type: 'email', optional: true, hint: t('newpro.emailHint'), spellcheck: false, autocapitalize: 'none' }),
        };
        const messages = formMessages();
        const submit = h('button', { type: 'submit', class: 'button' }, t('newpro.submit'));
        const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'new-pro' }, messages.el, Object.values(f).map((x) => x.el), h('div', { class: 'form__actions' }, submit));
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          messages.clear();
          const rpps = digits(f.rpps.value());
          const email = f.email.value();
          const ok = validate([
            [f.rpps, !rpps ? t('newpro.rppsRequired') : isValidRpps(rpps) ? undefined : t('newpro.rppsInvalid')],
            [f.given, f.given.value() ? undefined : t('newaccount.givenRequired')],
            [f.family, f.family.value() ? undefined : t('newaccount.familyRequired')],
            [f.profession, f.profession.input.value ? undefined : t('newpro.professionRequired')],
            [f.email, email ? checkAddress('email', email) : undefined],
          ]);
          if (!ok) return;
          void whileBusy(submit, async () => {
            try {
              const answer = await admin.createProfessional({
                rpps,
                given: f.given.value(),
                family: f.family.value(),
                profession: f.profession.input.value,
                specialty: f.specialty.value() || undefined,
                organisation: f.organisation.value() || undefined,
                email: email || undefined,
              });
              if (ctx.signal.aborted) return;
              const name = `${f.given.value()} ${f.family.value()}`;
              form.reset();
              if (answer?.existed) messages.success(t('newaccount.existed', { name }));
              else if (answer?.activation_code) messages.success([t('newpro.doneCode', { name }), ' ', h('code', { class: 'code-once' }, answer.activation_code)]);
              else messages.success(t('newpro.done', { name }));
            } catch (err) {
              if (!ctx.signal.aborted) showError(err, f, messages);
            }
          });
        });
        mount(slot, form);
      })
      .catch((err: unknown) => {
        if (!ctx.signal.aborted) mount(slot, errorState(err, { compact: true, onRetry: load }));
      });
  };
  load();
}

function staffForm(panel: HTMLElement, ctx: PageContext): void {
  const kind = radioGroup({
    legend: t('newstaff.kind'),
    name: 'staff-kind',
    value: 'advisor',
    options: [
      { value: 'advisor', label: t('account.kind.advisor'), hint: t('newstaff.advisorHint') },
      { value: 'admin', label: t('account.kind.admin'), hint: t('newstaff.adminHint') },
    ],
  });
  const f = {
    login: textField({ label: t('newstaff.login'), name: 'login', hint: t('newstaff.loginHint'), spellcheck: false, autocapitalize: 'none' }),
    given: textField({ label: t('identity.given'), name: 'given' }),
    family: textField({ label: t('identity.family'), name: 'family' }),
    email: textField({ label: t('contact.emailLabel'), name: 'email', type: 'email', spellcheck: false, autocapitalize: 'none' }),
  };
  const messages = formMessages();
  const result = h('div', { class: 'once', hidden: true, tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'button' }, t('newstaff.submit'));
  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'new-staff' }, messages.el, kind.el, Object.values(f).map((x) => x.el), h('div', { class: 'form__actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    result.hidden = true;
    const ok = validate([
      [f.login, /^[a-z0-9._-]{3,64}$/i.test(f.login.value()) ? undefined : t('newstaff.loginInvalid')],
      [f.given, f.given.value() ? undefined : t('newaccount.givenRequired')],
      [f.family, f.family.value() ? undefined : t('newaccount.familyRequired')],
      [f.email, checkAddress('email', f.email.value())],
    ]);
    if (!ok) return;
    void whileBusy(submit, async () => {
      try {
        const k = kind.value() === 'admin' ? 'admin' : 'advisor';
        const login = f.login.value();
        const answer = await admin.createStaff({ kind: k, login, given: f.given.value(), family: f.family.value(), email: f.email.value() });
        if (ctx.signal.aborted) return;
        form.reset();
        if (answer?.existed || !answer?.activation_code) messages.success(t('newaccount.existed', { name: login }));
        else showOnce(result, login, answer.activation_code);
      } catch (err) {
        if (!ctx.signal.aborted) showError(err, f, messages);
      }
    });
  });
  panel.append(form, result);
}

/** The activation code, shown once: copy it now, it cannot be read again. */
function showOnce(result: HTMLElement, login: string, code: string): void {
  const copy = h('button', { type: 'button', class: 'button button--secondary button--small' }, t('newstaff.copy'));
  const copied = h('span', { class: 'once__copied', role: 'status' });
  copy.addEventListener('click', () => {
    navigator.clipboard?.writeText(code).then(
      () => (copied.textContent = t('newstaff.copied')),
      () => (copied.textContent = t('newstaff.copyFailed')),
    );
  });
  mount(
    result,
    h('h3', { class: 'once__title' }, t('newstaff.doneTitle', { login })),
    h('p', null, t('newstaff.codeIs')),
    h('p', null, h('code', { class: 'code-once', 'data-testid': 'activation-code' }, code), ' ', copy, ' ', copied),
    h('p', { class: 'once__warn' }, t('newstaff.once')),
  );
  result.hidden = false;
  result.focus();
}
