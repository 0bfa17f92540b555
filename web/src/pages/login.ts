// "/connexion": identifier + password, then the code step on the same page.
//   POST /auth/login → { challenge, channel, to } (or a session straight away on a trusted device)
//   POST /auth/verify { challenge, code, trust_device } → session cookie + CSRF token
//   POST /auth/certificate → a session from the professional's card (HTTPS with the card
//   reader), or 401 with the reason, shown as the server gives it
// Then back to the page asked for (?retour=…) or the home of the person's space.
import { h, mount } from '../dom';
import { t } from '../i18n';
import { auth, AuthError, isSessionAnswer, type Challenge, type Session } from '../api/auth';
import { authAside, authCard } from '../components/auth-layout';
import { codeStep } from '../components/code-step';
import { errorText, formMessages, normalizeLogin, passwordField, textField, validate, whileBusy } from '../components/form';
import { canOpen, pathFor, safeReturn, type Renderer } from '../routes';
import { homeFor, loadSession } from '../session';
import { navigate } from '../navigation';

export const renderLogin: Renderer = (main, ctx) => {
  const back = safeReturn(new URLSearchParams(location.search).get('retour'));
  const signedIn = ctx.session;
  if (signedIn && (!back || canOpen(back, signedIn))) {
    navigate(back ?? homeFor(signedIn), { replace: true });
    return;
  }

  const target = (s: Session) => (back && canOpen(back, s) ? back : homeFor(s));
  const finish = async () => {
    const s = await loadSession(true);
    if (!s) throw new Error('no session after login');
    if (ctx.signal.aborted) return;
    navigate(target(s), { replace: true });
  };

  const step = h('div', { class: 'steps' });
  let login = '';

  const showCredentials = (focus: boolean) => {
    const id = textField({
      label: t('login.id'),
      name: 'username',
      hint: t('login.idHint'),
      autocomplete: 'username',
      spellcheck: false,
      autocapitalize: 'none',
      value: login,
    });
    const password = passwordField({ label: t('login.password'), name: 'password', autocomplete: 'current-password' });
    const messages = formMessages();
    const submit = h('button', { type: 'submit', class: 'button button--block' }, t('login.submit'));
    const form = h(
      'form',
      { class: 'form', novalidate: true, 'aria-labelledby': 'page-title' },
      messages.el,
      id.el,
      password.el,
      h('p', { class: 'form__aside' }, h('a', { href: pathFor('reset') }, t('login.forgot'))),
      h('div', { class: 'form__actions' }, submit),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      messages.clear();
      const ok = validate([
        [id, id.value() ? undefined : t('login.id.required')],
        [password, password.input.value ? undefined : t('login.password.required')],
      ]);
      if (!ok) return;
      login = id.value();
      void whileBusy(submit, async () => {
        try {
          const answer = await auth.login(normalizeLogin(login), password.input.value);
          if (ctx.signal.aborted) return;
          if (isSessionAnswer(answer)) {
            await finish(); // a trusted device: no code needed
            return;
          }
          password.input.value = '';
          showCode(answer);
        } catch (err) {
          if (ctx.signal.aborted) return;
          messages.error(errorText(err));
        }
      });
    });
    mount(step, form, cardLogin());
    if (focus) (login ? password : id).focus();
  };

  /** "Se connecter avec ma carte CPS": the card's certificate, sent by the browser over HTTPS. */
  const cardLogin = () => {
    const messages = formMessages();
    const hint = h('p', { id: 'card-login-hint', class: 'field__hint' }, t('login.cardHint'));
    const button = h(
      'button',
      { type: 'button', class: 'button button--secondary button--block', 'aria-describedby': 'card-login-hint' },
      t('login.card'),
    );
    button.addEventListener('click', () => {
      messages.clear();
      void whileBusy(button, async () => {
        try {
          await auth.certificate();
          await finish();
        } catch (err) {
          if (ctx.signal.aborted) return;
          if (err instanceof AuthError && err.status === 401) {
            messages.error(err.diagnostics[0] ? t('login.cardRefused', { reason: err.diagnostics[0] }) : t('login.cardRefusedNoReason'));
          } else {
            messages.error(errorText(err));
          }
          button.focus();
        }
      });
    });
    return h(
      'section',
      { class: 'card-login', 'aria-labelledby': 'card-login-title' },
      h('p', { class: 'card-login__or', 'aria-hidden': 'true' }, h('span', null, t('login.or'))),
      h('h2', { id: 'card-login-title', class: 'card-login__title' }, t('login.cardTitle')),
      messages.el,
      button,
      hint,
    );
  };

  const showCode = (challenge: Challenge) => {
    const s = codeStep({
      challenge,
      title: t('login.codeTitle'),
      submitLabel: t('login.codeSubmit'),
      trustDevice: true,
      signal: ctx.signal,
      onSubmit: async (code, { trust }) => {
        await auth.verify(challenge.challenge, code, trust);
        await finish();
      },
      back: { label: t('login.otherId'), onClick: () => showCredentials(true) },
    });
    mount(step, s.el);
    s.focus();
  };

  main.append(
    authCard(
      h('h1', { id: 'page-title' }, t('page.login')),
      signedIn
        ? h('p', { class: 'notice notice--info' }, t('login.otherAccount', { name: signedIn.account.display_name }))
        : back
          ? h('p', { class: 'notice notice--info' }, t('login.needed'))
          : h('p', { class: 'lead' }, t('login.intro')),
      step,
    ),
    authAside(
      h('section', { class: 'aside-block', 'aria-labelledby': 'first-visit' },
        h('h2', { id: 'first-visit', class: 'aside-block__title' }, t('login.firstVisit')),
        h('p', null, t('login.firstVisitText')),
        h('a', { class: 'button button--secondary', href: pathFor('activation') }, t('login.activate')),
      ),
      h('section', { class: 'aside-block', 'aria-labelledby': 'oppose' },
        h('h2', { id: 'oppose', class: 'aside-block__title' }, t('login.opposeTitle')),
        h('p', null, t('login.opposeText')),
        h('a', { href: pathFor('opposition') }, t('login.oppose')),
      ),
    ),
  );
  showCredentials(false);
};
