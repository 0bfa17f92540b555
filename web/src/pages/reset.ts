// "/mot-de-passe-oublie": identifier → code + new password → done → login.
//   POST /auth/reset { login } → { challenge, channel, to } (the same for unknown identifiers)
//   POST /auth/reset/confirm { challenge, code, password } → 204; every session ends.
import { h, mount } from '../dom';
import { t } from '../i18n';
import { auth, AuthError, type Challenge } from '../api/auth';
import { authAside, authCard } from '../components/auth-layout';
import { codeStep } from '../components/code-step';
import { errorText, formMessages, normalizeLogin, passwordField, textField, validate, whileBusy } from '../components/form';
import { pathFor, type Renderer } from '../routes';
import { checkNewPassword, passwordPolicy } from '../components/identity-fields';
import { clearSession } from '../session';

export const renderReset: Renderer = (main, ctx) => {
  const body = h('div', { class: 'steps' });
  const title = h('h1', { id: 'page-title', tabindex: '-1' }, t('page.reset'));
  const lead = h('p', { class: 'lead' }, t('reset.intro'));
  let login = '';

  const showLogin = () => {
    const id = textField({ label: t('login.id'), name: 'username', hint: t('login.idHint'), autocomplete: 'username', spellcheck: false, autocapitalize: 'none', value: login });
    const messages = formMessages();
    const submit = h('button', { type: 'submit', class: 'button button--block' }, t('reset.send'));
    const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'page-title' }, messages.el, id.el, h('div', { class: 'form__actions' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      messages.clear();
      if (!validate([[id, id.value() ? undefined : t('login.id.required')]])) return;
      login = id.value();
      void whileBusy(submit, async () => {
        try {
          const challenge = await auth.reset(normalizeLogin(login));
          if (ctx.signal.aborted) return;
          showCode(challenge);
        } catch (err) {
          if (ctx.signal.aborted) return;
          messages.error(errorText(err));
        }
      });
    });
    mount(body, form);
  };

  const showCode = (challenge: Challenge) => {
    const password = passwordField({ label: t('reset.newPassword'), name: 'new-password', hint: passwordPolicy(), autocomplete: 'new-password' });
    const s = codeStep({
      challenge: { ...challenge, channel: challenge.channel === 'totp' ? 'email' : challenge.channel },
      title: t('reset.codeTitle'),
      submitLabel: t('reset.submit'),
      extra: [password],
      checkExtra: () => [[password, checkNewPassword(password.input.value)]],
      signal: ctx.signal,
      onSubmit: async (code) => {
        await auth.resetConfirm(challenge.challenge, code, password.input.value);
        if (!ctx.signal.aborted) done();
      },
      onError: (err) => {
        if (err instanceof AuthError && err.status === 400) {
          password.setError(err.diagnostics[0] ?? t('password.rejected'));
          password.focus();
          return true;
        }
        return false;
      },
      back: { label: t('login.otherId'), onClick: showLogin },
    });
    mount(body, h('p', { class: 'notice notice--info' }, t('reset.ifKnown')), s.el);
    s.focus();
  };

  const done = () => {
    clearSession(); // every session ended, this browser's too
    title.textContent = t('reset.doneTitle');
    document.title = `${t('reset.doneTitle')} — ${t('app.titleSuffix')}`;
    lead.replaceWith(h('p', { class: 'lead' }, t('reset.doneText')));
    mount(body, h('a', { class: 'button button--block', href: pathFor('login') }, t('reset.toLogin')));
    title.focus();
  };

  main.append(authCard(title, lead, body), authAside(h('p', null, h('a', { href: pathFor('login') }, t('reset.back')))));
  showLogin();
};
