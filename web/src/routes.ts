// Every page of the portal, grouped by space. A page without `render` shows the designed
// "bientôt disponible" state; later issues give each one its real content.
import type { IconName } from './dom';
import type { MessageKey } from './i18n';

export type SpaceId = 'patient' | 'pro' | 'operator';

export interface PageContext {
  params: Record<string, string>;
  /** Aborted when the person navigates away: pass it to fetches. */
  signal: AbortSignal;
  page: PageDef;
}

export type Renderer = (main: HTMLElement, ctx: PageContext) => void;

export interface PageDef {
  id: string;
  space: SpaceId;
  /** Path pattern; ":name" segments become params. */
  path: string;
  title: MessageKey;
  desc?: MessageKey;
  icon: IconName;
  /** Shown in the space's navigation menu. */
  inNav: boolean;
  /** Where the "back" link goes (a page id); space home pages have none. */
  parent?: string;
  render?: () => Promise<Renderer>;
}

export interface SpaceDef {
  id: SpaceId;
  label: MessageKey;
  home: string;
  icon: IconName;
}

export const SPACES: SpaceDef[] = [
  { id: 'patient', label: 'space.patient', home: '/patient', icon: 'account' },
  { id: 'pro', label: 'space.pro', home: '/pro', icon: 'people' },
  { id: 'operator', label: 'space.operator', home: '/operateur', icon: 'grid' },
];

const demoList = () => import('./pages/demo-patients').then((m) => m.renderDemoPatients);
const demoRecord = () => import('./pages/demo-patient').then((m) => m.renderDemoPatient);
const patientHome = () => import('./pages/patient-home').then((m) => m.renderPatientHome);

export const PAGES: PageDef[] = [
  // Patient
  { id: 'patient.home', space: 'patient', path: '/patient', title: 'page.patient.home', desc: 'page.patient.home.desc', icon: 'home', inNav: true, render: patientHome },
  { id: 'patient.profile', space: 'patient', path: '/patient/profil', title: 'page.patient.profile', desc: 'page.patient.profile.desc', icon: 'profile', inNav: true, parent: 'patient.home' },
  { id: 'patient.documents', space: 'patient', path: '/patient/documents', title: 'page.patient.documents', desc: 'page.patient.documents.desc', icon: 'documents', inNav: true, parent: 'patient.home' },
  { id: 'patient.messages', space: 'patient', path: '/patient/messagerie', title: 'page.patient.messages', desc: 'page.patient.messages.desc', icon: 'messages', inNav: true, parent: 'patient.home' },
  { id: 'patient.services', space: 'patient', path: '/patient/services', title: 'page.patient.services', desc: 'page.patient.services.desc', icon: 'services', inNav: true, parent: 'patient.home' },
  { id: 'patient.privacy', space: 'patient', path: '/patient/confidentialite', title: 'page.patient.privacy', desc: 'page.patient.privacy.desc', icon: 'privacy', inNav: true, parent: 'patient.home' },
  { id: 'patient.accessLog', space: 'patient', path: '/patient/historique', title: 'page.patient.accessLog', desc: 'page.patient.accessLog.desc', icon: 'history', inNav: true, parent: 'patient.home' },
  { id: 'patient.account', space: 'patient', path: '/patient/compte', title: 'page.patient.account', desc: 'page.patient.account.desc', icon: 'account', inNav: true, parent: 'patient.home' },
  { id: 'patient.demo', space: 'patient', path: '/patient/demo', title: 'page.patient.demo', desc: 'page.patient.demo.desc', icon: 'people', inNav: true, parent: 'patient.home', render: demoList },
  { id: 'patient.demoRecord', space: 'patient', path: '/patient/demo/:id', title: 'page.patient.demo', icon: 'people', inNav: false, parent: 'patient.demo', render: demoRecord },

  // Professional
  { id: 'pro.search', space: 'pro', path: '/pro', title: 'page.pro.search', desc: 'page.pro.search.desc', icon: 'search', inNav: true },
  { id: 'pro.code', space: 'pro', path: '/pro/code', title: 'page.pro.code', desc: 'page.pro.code.desc', icon: 'key', inNav: true, parent: 'pro.search' },
  { id: 'pro.messages', space: 'pro', path: '/pro/messagerie', title: 'page.pro.messages', desc: 'page.pro.messages.desc', icon: 'messages', inNav: true, parent: 'pro.search' },
  { id: 'pro.emergency', space: 'pro', path: '/pro/urgence', title: 'page.pro.emergency', desc: 'page.pro.emergency.desc', icon: 'emergency', inNav: true, parent: 'pro.search' },

  // Operator
  { id: 'operator.grid', space: 'operator', path: '/operateur', title: 'page.operator.grid', desc: 'page.operator.grid.desc', icon: 'grid', inNav: true },
  { id: 'operator.directory', space: 'operator', path: '/operateur/annuaire', title: 'page.operator.directory', desc: 'page.operator.directory.desc', icon: 'directory', inNav: true, parent: 'operator.grid' },
  { id: 'operator.catalogue', space: 'operator', path: '/operateur/catalogue', title: 'page.operator.catalogue', desc: 'page.operator.catalogue.desc', icon: 'catalogue', inNav: true, parent: 'operator.grid' },
  { id: 'operator.support', space: 'operator', path: '/operateur/support', title: 'page.operator.support', desc: 'page.operator.support.desc', icon: 'support', inNav: true, parent: 'operator.grid' },
];

/** The landing page for now: the demo patients. */
export const LANDING = '/patient/demo';

export function pageById(id: string): PageDef | undefined {
  return PAGES.find((p) => p.id === id);
}

export function spaceById(id: SpaceId): SpaceDef {
  return SPACES.find((s) => s.id === id)!;
}

export interface Match {
  page: PageDef;
  params: Record<string, string>;
}

export function match(pathname: string): Match | undefined {
  const path = pathname.replace(/\/+$/, '') || '/';
  const segs = path.split('/').filter(Boolean);
  for (const page of PAGES) {
    const pattern = page.path.split('/').filter(Boolean);
    if (pattern.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i]!;
      const s = segs[i]!;
      if (p.startsWith(':')) {
        try {
          params[p.slice(1)] = decodeURIComponent(s);
        } catch {
          ok = false;
        }
      } else if (p !== s) ok = false;
      if (!ok) break;
    }
    if (ok) return { page, params };
  }
  return undefined;
}

/** Build a path for a page with params. */
export function pathFor(id: string, params: Record<string, string> = {}): string {
  const page = pageById(id);
  if (!page) return '/';
  return page.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}
