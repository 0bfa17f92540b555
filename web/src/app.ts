// The application shell (header, space tabs, space menu, main, footer) and the history router.
// The server falls back to index.html for paths without a dot, so deep links work.
//
// Pages are guarded by the session (session.ts): a page of a space needs the matching
// account kind, otherwise the login page opens with the path to return to (?retour=…).
import { h, icon, ICONS, mount } from './dom';
import { applyLang, getLang, onLangChange, setLang, t, type Lang } from './i18n';
import { accessOf, accountPathFor, allowed, loginPath, LOGIN_PATH, match, pageById, PAGES, SPACES, spaceById, type PageDef, type SpaceId } from './routes';
import { renderNotFound, renderPlaceholder } from './pages/placeholder';
import { loadingState } from './components/states';
import { auth, type Session } from './api/auth';
import { onUnauthorized } from './api/hooks';
import { clearSession, homeFor, loadSession, onSessionChange } from './session';
import { setNavigator } from './navigation';
import { recordBar } from './components/record-switcher';

let root: HTMLElement;
let controller: AbortController | undefined;
let renderedPath = '';
let navSeq = 0;
/** Stops the record bar of the previous page from following session changes. */
let unfollowSession: (() => void) | undefined;

export function startApp(el: HTMLElement): void {
  root = el;
  applyLang();
  setNavigator(navigate);
  onUnauthorized(sessionEnded);
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', () => {
    // Fragment-only changes (skip link, in-page anchors) keep the current page.
    if (location.pathname === renderedPath) return;
    void render({ focus: true });
  });
  onLangChange((lang) => void render({ focus: false, refocusLang: lang }));
  mount(root, loadingState(t('state.loading')));
  void render({ focus: false });
}

/** Navigate to a same-origin path (pushes history). */
export function navigate(path: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render({ focus: true });
}

/** The server answered 401 on a route that needs a session: back to the login page. */
function sessionEnded(): void {
  if (location.pathname === LOGIN_PATH) return;
  clearSession();
  navigate(loginPath(location.pathname + location.search), { replace: true });
}

function onLinkClick(ev: MouseEvent): void {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('//')) return;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  if (url.pathname === location.pathname && url.search === location.search && !url.hash) {
    // Same page: just move focus to the content.
    document.getElementById('main')?.focus();
    return;
  }
  navigate(url.pathname + url.search + url.hash);
}

interface RenderOptions {
  focus: boolean;
  refocusLang?: Lang;
}

async function render(opts: RenderOptions): Promise<void> {
  const seq = ++navSeq;
  const session = await loadSession();
  if (seq !== navSeq) return; // navigated again meanwhile
  if (location.pathname === '/' || location.pathname === '') {
    history.replaceState(null, '', homeFor(session) + location.search + location.hash);
  }
  let m = match(location.pathname);
  if (m && !allowed(accessOf(m.page), session)) {
    // Not signed in, or not with the right kind of account: log in, then come back here.
    history.replaceState(null, '', loginPath(location.pathname + location.search));
    m = match(location.pathname);
  }
  renderedPath = location.pathname;
  controller?.abort();
  controller = new AbortController();
  const page = m?.page;

  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const nav = page?.space && session ? spaceNav(page, page.space, session) : null;
  mount(
    root,
    h('a', { class: 'skip-link', href: '#main' }, t('app.skip')),
    header(page, session),
    h('div', { class: ['layout', !nav && 'layout--single'] }, nav, main),
    footer(),
  );
  document.title = page ? `${t(page.title)} — ${t('app.titleSuffix')}` : `${t('notFound.title')} — ${t('app.titleSuffix')}`;

  if (opts.refocusLang) {
    root.querySelector<HTMLButtonElement>('.lang-switch button')?.focus();
  } else if (opts.focus) {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  if (!m || !page) {
    renderNotFound(main, session);
    return;
  }
  if (!page.render) {
    renderPlaceholder(main, page);
    return;
  }
  main.append(loadingState(t('state.loading')));
  const renderer = await page.render();
  if (seq !== navSeq) return; // navigated away meanwhile
  main.replaceChildren();
  renderer(main, { params: m.params, signal: controller.signal, page, session });
}

async function logout(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    await auth.logout();
  } catch {
    /* the cookie may already be gone: signed out either way on this side */
  }
  clearSession();
  navigate(LOGIN_PATH);
}

/**
 * The patient space's record bar ("Dossier de : …"), kept up to date when the session is read
 * again (an invitation accepted adds a record) or another record is chosen.
 */
function recordSlot(page: PageDef | undefined, session: Session | null): HTMLElement | null {
  unfollowSession?.();
  unfollowSession = undefined;
  if (page?.space !== 'patient' || !session) return null;
  const slot = h('div', { class: 'record-slot' });
  const fill = (s: Session | null) => {
    const bar = s ? recordBar(s) : null;
    slot.replaceChildren(...(bar ? [bar] : []));
  };
  fill(session);
  unfollowSession = onSessionChange(fill);
  return slot;
}

function header(page: PageDef | undefined, session: Session | null): HTMLElement {
  const other: Lang = getLang() === 'fr' ? 'en' : 'fr';
  const current = page?.space;
  // The spaces this person may use; tabs only when there is a choice to make.
  const spaces = session ? SPACES.filter((s) => allowed(s.access, session)) : [];
  const accountHref = accountPathFor(session);
  const logoutButton = h('button', { type: 'button', class: 'button button--secondary button--small user-bar__logout' }, t('auth.logout'));
  logoutButton.addEventListener('click', () => void logout(logoutButton));
  return h(
    'header',
    { class: 'site-header' },
    h(
      'div',
      { class: 'header-bar' },
      h(
        'a',
        { class: 'brand', href: '/' },
        h('span', { class: 'brand__logo', 'aria-hidden': 'true' }, icon(['M7 3h9a3 3 0 0 1 3 3v15H9a2 2 0 0 1-2-2z', 'M11 10h5M13.5 7.5v5'], 'brand__svg')),
        h('span', { class: 'brand__text' },
          h('span', { class: 'brand__name' }, t('app.name')),
          h('span', { class: 'brand__tagline' }, t('app.tagline')),
        ),
      ),
      h(
        'div',
        { class: 'lang-switch' },
        h(
          'button',
          {
            type: 'button',
            class: 'lang-switch__button',
            lang: other,
            'data-lang': other,
            on: { click: () => setLang(other) },
          },
          h('span', { class: 'lang-switch__globe', 'aria-hidden': 'true' }, icon(['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M3 12h18', 'M12 3c2.5 2.7 3.7 5.7 3.7 9s-1.2 6.3-3.7 9c-2.5-2.7-3.7-5.7-3.7-9S9.5 5.7 12 3z'])),
          t(other === 'en' ? 'lang.en' : 'lang.fr'),
        ),
      ),
      session &&
        h(
          'div',
          { class: 'user-bar' },
          h('p', { class: 'user-bar__who' },
            icon(ICONS.account),
            h('span', { class: 'visually-hidden' }, t('auth.signedInAs')),
            accountHref
              ? h('a', { class: 'user-bar__name', href: accountHref, 'data-testid': 'user-name' }, session.account.display_name)
              : h('span', { class: 'user-bar__name', 'data-testid': 'user-name' }, session.account.display_name),
          ),
          logoutButton,
        ),
    ),
    spaces.length > 1 &&
      h(
        'nav',
        { class: 'space-tabs', 'aria-label': t('nav.spaces') },
        h(
          'ul',
          { class: 'space-tabs__list', role: 'list' },
          spaces.map((s) =>
            h(
              'li',
              null,
              h(
                'a',
                {
                  class: ['space-tabs__link', s.id === current && 'is-active'],
                  href: s.home,
                  'aria-current': s.id === current ? 'true' : null,
                },
                icon(ICONS[s.icon]),
                h('span', null, t(s.label)),
              ),
            ),
          ),
        ),
      ),
    recordSlot(page, session),
  );
}

function spaceNav(page: PageDef, spaceId: SpaceId, session: Session): HTMLElement {
  const space = spaceById(spaceId);
  const items = PAGES.filter((p) => p.space === spaceId && p.inNav && allowed(accessOf(p), session));
  let activeId = page.inNav ? page.id : page.parent;
  // Deeper pages (a patient's profile under their record): the nearest ancestor in the menu.
  for (let hops = 0; activeId && hops < 5 && !items.some((p) => p.id === activeId); hops++) activeId = pageById(activeId)?.parent;
  const active = items.find((p) => p.id === activeId);
  const listId = 'space-nav-list';
  const nav = h('nav', { class: 'space-nav', 'aria-label': t('nav.spaceMenu', { space: t(space.label) }) });
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'space-nav__toggle',
      'aria-expanded': 'false',
      'aria-controls': listId,
      on: {
        click: () => {
          const open = toggle.getAttribute('aria-expanded') !== 'true';
          toggle.setAttribute('aria-expanded', String(open));
          nav.classList.toggle('is-open', open);
        },
      },
    },
    icon(ICONS.menu),
    h('span', { class: 'space-nav__toggle-label' }, t('nav.menu')),
    active && h('span', { class: 'space-nav__toggle-current' }, t(active.title)),
    icon(ICONS.chevron, 'icon space-nav__toggle-chevron'),
  );
  nav.append(
    toggle,
    h(
      'ul',
      { id: listId, class: 'space-nav__list', role: 'list' },
      items.map((p) =>
        h(
          'li',
          null,
          h(
            'a',
            {
              class: ['space-nav__link', p.id === activeId && 'is-active', p.id.endsWith('.account') && 'is-separated'],
              href: p.path,
              'aria-current': p.id === page.id ? 'page' : p.id === activeId ? 'true' : null,
            },
            icon(ICONS[p.icon]),
            h('span', null, t(p.title)),
          ),
        ),
      ),
    ),
  );
  return nav;
}

function footer(): HTMLElement {
  return h(
    'footer',
    { class: 'site-footer' },
    h('p', null, t('app.footer')),
    h('p', null, t('app.footerDemo')),
  );
}
