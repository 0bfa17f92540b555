// Patient "Accueil": the four areas as tiles (UX.md), plus the demo records for now.
import { h, icon, ICONS } from '../dom';
import { t } from '../i18n';
import { pageById, type Renderer } from '../routes';

const TILES = ['patient.profile', 'patient.documents', 'patient.messages', 'patient.services'];

export const renderPatientHome: Renderer = (main) => {
  const tile = (id: string, extra?: string) => {
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
  };
  main.append(
    h('h1', { id: 'page-title' }, t('home.welcome')),
    h('p', { class: 'lead' }, t('home.intro')),
    h('h2', { class: 'section-title' }, t('home.areas')),
    h('ul', { class: 'tiles', role: 'list' }, TILES.map((id) => tile(id))),
    h('h2', { class: 'section-title' }, t('home.try')),
    h('ul', { class: 'tiles tiles--single', role: 'list' }, tile('patient.demo', 'tile--accent')),
  );
};
