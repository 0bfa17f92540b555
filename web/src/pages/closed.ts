// "/compte-ferme": after closing (or asking to delete) one's space the session is gone; this
// page says what happened and how to come back. ?suppression=1 after a deletion request.
import { h } from '../dom';
import { t } from '../i18n';
import { authAside, authCard } from '../components/auth-layout';
import { pathFor, type Renderer } from '../routes';

export const renderClosed: Renderer = (main) => {
  const deleted = new URLSearchParams(location.search).get('suppression') === '1';
  const title = deleted ? t('closed.deletedTitle') : t('closed.title');
  document.title = `${title} — ${t('app.titleSuffix')}`;
  main.append(
    authCard(
      h('h1', { id: 'page-title' }, title),
      h('p', { class: 'lead' }, deleted ? t('closed.deletedLead') : t('closed.lead')),
      h('div', { class: 'notice notice--success', role: 'status' }, t('closed.ended')),
      h('h2', { class: 'step__title' }, t('closed.nextTitle')),
      h('ul', { class: 'closed__list' },
        deleted
          ? [h('li', null, t('closed.deleted1')), h('li', null, t('closed.deleted2'))]
          : [h('li', null, t('closed.kept1')), h('li', null, t('closed.kept2'))],
        h('li', null, t('closed.mail')),
      ),
      h('h2', { class: 'step__title' }, t('closed.reopenTitle')),
      h('p', null, deleted ? t('closed.reopenDeleted') : t('closed.reopen')),
      h('p', null, h('a', { class: 'button', href: pathFor('login') }, t('closed.login'))),
    ),
    authAside(h('p', null, t('closed.bye'))),
  );
};
