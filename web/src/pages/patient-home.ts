// Patient "Accueil": a greeting, the record and account pages that exist, and the four areas
// as tiles (UX.md) — those still in preparation say so on their own page.
import { h, icon, ICONS } from '../dom';
import { t } from '../i18n';
import { pageById, type Renderer } from '../routes';

const READY = ['patient.record', 'patient.directory', 'patient.account'];
const AREAS = ['patient.profile', 'patient.documents', 'patient.messages', 'patient.services'];

function tile(id: string, extra?: string): HTMLElement {
  const page = pageById(id)!;
  return h(
    'li',
    null,
    h(
      'a',
      { class: ['tile', extra], href: page.path },
      h('span', { class: 'tile__icon' }, icon(ICONS[page.icon])),
      h('span', { class: 'tile__body' },
        h('span', { class: 'tile__title' }, t(page.title)),
        page.desc && h('span', { class: 'tile__desc' }, t(page.desc)),
      ),
      icon(ICONS.chevron, 'icon tile__chevron'),
    ),
  );
}

export const renderPatientHome: Renderer = (main, ctx) => {
  const name = ctx.session?.account.display_name ?? '';
  main.append(
    h('h1', { id: 'page-title' }, name ? t('home.hello', { name }) : t('home.welcome')),
    h('p', { class: 'lead' }, t('home.intro')),
    h('h2', { class: 'section-title' }, t('home.yours')),
    h('ul', { class: 'tiles', role: 'list' }, READY.map((id, i) => tile(id, i === 0 ? 'tile--accent' : undefined))),
    h('h2', { class: 'section-title' }, t('home.areas')),
    h('ul', { class: 'tiles', role: 'list' }, AREAS.map((id) => tile(id))),
  );
};
