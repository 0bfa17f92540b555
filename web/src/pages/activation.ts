// "/activation": the first visit. INS (or the identifier given with the code) + activation code
// from the letter + a new password + where codes should arrive; then the code sent there.
//   POST /auth/activate → { challenge, channel, to }
//   POST /auth/activate/confirm → session: signed in, to the home of the person's space.
import { h, mount } from '../dom';
import { t } from '../i18n';
import { auth, AuthError, type Challenge } from '../api/auth';
import { authAside, authCard } from '../components/auth-layout';
import { codeStep } from '../components/code-step';
import { errorText, formMessages, normalizeLogin, passwordField, textField, validate, whileBusy } from '../components/form';
import { checkAddress, checkNewPassword, contactInputs, isAddressError, passwordPolicy } from '../components/identity-fields';
import { pathFor, type Renderer } from '../routes';
import { homeFor, loadSession } from '../session';
import { navigate } from '../navigation';

export const renderActivation: Renderer = (main, ctx) => {
  const step = h('div', { class: 'steps' });

  const showForm = () => {
    const login = textField({
      label: t('activation.login'),
      name: 'login',
      hint: t('activation.loginHint'),
      autocomplete: 'username',
      spellcheck: false,
      autocapitalize: 'none',
    });
    const code = textField({
      label: t('activation.code'),
      name: 'activation_code',
      hint: t('activation.codeHint'),
      spellcheck: false,
      autocapitalize: 'characters',
      class: 'input--mono',
    });
    const password = passwordField({ label: t('activation.password'), name: 'new-password', hint: passwordPolicy(), autocomplete: 'new-password' });
    const contact = contactInputs();
    const messages = formMessages();
    const submit = h('button', { type: 'submit', class: 'button button--block' }, t('activation.submit'));
    const form = h(
      'form',
      { class: 'form', novalidate: true, 'aria-labelledby': 'page-title' },
      messages.el,
      login.el,
      code.el,
      password.el,
      contact.group.el,
      contact.address.el,
      h('div', { class: 'form__actions' }, submit),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      messages.clear();
      const channel = contact.channel();
      const ok = validate([
        [login, login.value() ? undefined : t('activation.loginRequired')],
        [code, code.value() ? undefined : t('activation.codeRequired')],
        [password, checkNewPassword(password.input.value)],
        [contact.address, checkAddress(channel, contact.address.value())],
      ]);
      if (!ok) return;
      const id = normalizeLogin(login.value());
      void whileBusy(submit, async () => {
        try {
          const challenge = await auth.activate(id, code.value(), password.input.value, channel, contact.address.value());
          if (ctx.signal.aborted) return;
          showCode(challenge);
        } catch (err) {
          if (ctx.signal.aborted) return;
          if (err instanceof AuthError && err.status === 400) {
            const target = isAddressError(err) ? contact.address : password;
            target.setError(err.diagnostics[0] ?? t('activation.invalid'));
            target.focus();
          } else if (err instanceof AuthError && err.status === 401) {
            messages.error(t('activation.wrong'));
            code.focus();
          } else {
            messages.error(errorText(err));
          }
        }
      });
    });
    mount(step, form);
  };

  const showCode = (challenge: Challenge) => {
    const s = codeStep({
      challenge,
      title: t('activation.codeTitle'),
      submitLabel: t('activation.confirm'),
      signal: ctx.signal,
      onSubmit: async (code) => {
        await auth.activateConfirm(challenge.challenge, code);
        const session = await loadSession(true);
        if (ctx.signal.aborted) return;
        navigate(homeFor(session), { replace: true });
      },
      back: { label: t('activation.restart'), onClick: showForm },
    });
    mount(step, s.el);
    s.focus();
  };

  main.append(
    authCard(
      h('h1', { id: 'page-title' }, t('page.activation')),
      h('p', { class: 'lead' }, t('activation.intro')),
      step,
    ),
    authAside(
      h('p', null, t('activation.already'), ' ', h('a', { href: pathFor('login') }, t('activation.login.link'))),
      h('p', null, t('activation.opposeText'), ' ', h('a', { href: pathFor('opposition') }, t('login.oppose'))),
    ),
  );
  showForm();
};
