// The designed "bientôt disponible" state every not-yet-built page shows.
import { h, icon, ICONS } from '../dom';
import { t } from '../i18n';
import { backLink } from '../components/states';
import { spaceById, type PageDef } from '../routes';
import type { Session } from '../api/auth';
import { homeFor } from '../session';

export function renderPlaceholder(main: HTMLElement, page: PageDef): void {
  const space = page.space ? spaceById(page.space) : undefined;
  main.append(
    space && page.parent
      ? backLink(space.home, t('soon.back', { space: t(space.label) }))
      : backLink('/', t('notFound.back')),
    h(
      'section',
      { class: 'soon', 'aria-labelledby': 'page-title' },
      h('div', { class: 'soon__icon' }, icon(ICONS[page.icon])),
      h('p', { class: 'badge badge--soon' }, icon(ICONS.clock), t('soon.badge')),
      h('h1', { id: 'page-title', class: 'soon__title' }, t(page.title)),
      page.desc && h('p', { class: 'soon__desc' }, t(page.desc)),
      h('p', { class: 'soon__text' }, t('soon.text')),
    ),
  );
}

export function renderNotFound(main: HTMLElement, session: Session | null): void {
  main.append(
    h(
      'section',
      { class: 'soon', 'aria-labelledby': 'page-title' },
      h('div', { class: 'soon__icon' }, icon(ICONS.alert)),
      h('h1', { id: 'page-title', class: 'soon__title' }, t('notFound.title')),
      h('p', { class: 'soon__desc' }, t('notFound.text')),
      h('a', { class: 'button', href: homeFor(session) }, t('notFound.back')),
    ),
  );
}
