// Patient "Accueil": a greeting, the record and account pages that exist, and the four areas
// as tiles (UX.md) — those still in preparation say so on their own page; the Messagerie tile
// carries the count of unread messages. A closed space says so first, with the way to reopen it.
import { h, icon, ICONS, mount } from '../dom';
import { t, tn } from '../i18n';
import { messages } from '../api/messages';
import { reopenBlock } from '../components/reauth';
import { currentRecord, loadSession } from '../session';
import { pageById, type PageContext, type Renderer } from '../routes';

const READY = ['patient.record', 'patient.access', 'patient.privacy', 'patient.accessLog', 'patient.delegations', 'patient.directory', 'patient.account'];
const AREAS = ['patient.profile', 'patient.documents', 'patient.messages', 'patient.services'];

function tile(id: string, extra?: string): HTMLElement {
  const page = pageById(id)!;
  return h(
    'li',
    null,
    h(
      'a',
      { class: ['tile', extra], href: page.path, 'data-page': id },
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
    ...(ctx.session?.account.status === 'closed' ? [closedBanner(ctx)] : []),
    h('p', { class: 'lead' }, t('home.intro')),
    h('h2', { class: 'section-title' }, t('home.yours')),
    h('ul', { class: 'tiles', role: 'list' }, READY.map((id, i) => tile(id, i === 0 ? 'tile--accent' : undefined))),
    h('h2', { class: 'section-title' }, t('home.areas')),
    h('ul', { class: 'tiles', role: 'list' }, AREAS.map((id) => tile(id))),
  );
  // Unread messages of the record shown, on the Messagerie tile; the home page stays as it is
  // when the count cannot be had.
  const record = currentRecord(ctx.session);
  if (record) {
    messages
      .unread(record.patient_id, ctx.signal)
      .then((n) => {
        if (ctx.signal.aborted || !n) return;
        main.querySelector('[data-page="patient.messages"] .tile__title')?.append(' ', h('span', { class: 'badge badge--info tile__badge', 'data-testid': 'unread-badge' }, tn('msg.unread', n)));
      })
      .catch(() => undefined);
  }
};

/** "Votre espace est fermé (lecture seule)", and "Rouvrir mon espace". */
function closedBanner(ctx: PageContext): HTMLElement {
  const body = h('div', { class: 'banner__body' });
  const banner = h(
    'section',
    { class: 'banner banner--closed', 'aria-labelledby': 'closed-title', 'data-testid': 'closed-banner' },
    h('h2', { id: 'closed-title', class: 'banner__title' }, icon(ICONS.alert), h('span', null, t('home.closedTitle'))),
    body,
  );
  mount(
    body,
    h('p', null, t('home.closedText')),
    reopenBlock(ctx, () => {
      void loadSession(true).then((s) => {
        if (ctx.signal.aborted) return;
        ctx.session = s;
        const done = h('p', { class: 'notice notice--success', role: 'status', tabindex: '-1', 'data-testid': 'reopened' }, t('reopen.done'));
        banner.replaceWith(done);
        done.focus();
      });
    }),
  );
  return banner;
}
