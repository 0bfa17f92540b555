// "/opposition": the person refuses the service with the code of their letter. Explicit
// confirmation of the consequence (no record is kept), then a confirmation page.
//   POST /auth/oppose { login, activation_code } → 204
import { h, mount } from '../dom';
import { t } from '../i18n';
import { auth, AuthError } from '../api/auth';
import { authAside, authCard } from '../components/auth-layout';
import { checkboxField, errorText, formMessages, normalizeLogin, textField, validate, whileBusy } from '../components/form';
import { pathFor, type Renderer } from '../routes';

export const renderOpposition: Renderer = (main, ctx) => {
  const body = h('div', { class: 'steps' });
  const login = textField({ label: t('activation.login'), name: 'login', hint: t('activation.loginHint'), autocomplete: 'username', spellcheck: false, autocapitalize: 'none' });
  const code = textField({ label: t('activation.code'), name: 'activation_code', hint: t('activation.codeHint'), spellcheck: false, autocapitalize: 'characters', class: 'input--mono' });
  const confirm = checkboxField({ label: t('opposition.confirm'), name: 'confirm', hint: t('opposition.confirmHint') });
  const messages = formMessages();
  const submit = h('button', { type: 'submit', class: 'button button--danger button--block' }, t('opposition.submit'));
  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title' },
    messages.el,
    login.el,
    code.el,
    h('div', { class: 'consequence' },
      h('h2', { class: 'consequence__title' }, t('opposition.whatTitle')),
      h('ul', { class: 'consequence__list' },
        h('li', null, t('opposition.what1')),
        h('li', null, t('opposition.what2')),
        h('li', null, t('opposition.what3')),
      ),
    ),
    confirm.el,
    h('div', { class: 'form__actions' }, submit),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    messages.clear();
    const ok = validate([
      [login, login.value() ? undefined : t('activation.loginRequired')],
      [code, code.value() ? undefined : t('activation.codeRequired')],
      [confirm, confirm.checked() ? undefined : t('opposition.confirmRequired')],
    ]);
    if (!ok) return;
    void whileBusy(submit, async () => {
      try {
        await auth.oppose(normalizeLogin(login.value()), code.value());
        if (ctx.signal.aborted) return;
        done();
      } catch (err) {
        if (ctx.signal.aborted) return;
        messages.error(err instanceof AuthError && err.status === 401 ? t('activation.wrong') : errorText(err));
      }
    });
  });
  mount(body, form);

  const title = h('h1', { id: 'page-title', tabindex: '-1' }, t('page.opposition'));
  const lead = h('p', { class: 'lead' }, t('opposition.intro'));
  const done = () => {
    title.textContent = t('opposition.doneTitle');
    document.title = `${t('opposition.doneTitle')} — ${t('app.titleSuffix')}`;
    lead.replaceWith(h('p', { class: 'lead' }, t('opposition.doneText')));
    mount(
      body,
      h('div', { class: 'notice notice--success' }, t('opposition.doneNotice')),
      h('p', null, t('opposition.doneMind')),
      h('a', { class: 'button button--secondary', href: '/' }, t('opposition.home')),
    );
    title.focus();
  };

  main.append(
    authCard(title, lead, body),
    authAside(h('p', null, t('opposition.rather'), ' ', h('a', { href: pathFor('activation') }, t('login.activate')))),
  );
};
