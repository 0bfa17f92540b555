// Every page of the portal, grouped by space. A page without `render` shows the designed
// "bientôt disponible" state; later issues give each one its real content.
import type { IconName } from './dom';
import type { MessageKey } from './i18n';
import type { Session } from './api/auth';
import { isOperator, isPatientSession } from './session';

export type SpaceId = 'patient' | 'pro' | 'operator';

/**
 * Who may open a page: anyone (the identity pages), a patient session (or someone acting for
 * a record), a professional, an operator (advisor or admin), an admin only.
 */
export type Access = 'public' | 'patient' | 'professional' | 'operator' | 'admin';

export interface PageContext {
  params: Record<string, string>;
  /** Aborted when the person navigates away: pass it to fetches. */
  signal: AbortSignal;
  page: PageDef;
  /** Who is signed in (null on public pages when nobody is). */
  session: Session | null;
}

export type Renderer = (main: HTMLElement, ctx: PageContext) => void;

export interface PageDef {
  id: string;
  /** The space the page belongs to; none for the public identity pages. */
  space?: SpaceId;
  /** Path pattern; ":name" segments become params. */
  path: string;
  title: MessageKey;
  desc?: MessageKey;
  icon: IconName;
  /** Shown in the space's navigation menu. */
  inNav: boolean;
  /** Where the "back" link goes (a page id); space home pages have none. */
  parent?: string;
  /** Default: the space's (patient → patient, pro → professional, operator → operator). */
  access?: Access;
  render?: () => Promise<Renderer>;
}

export interface SpaceDef {
  id: SpaceId;
  label: MessageKey;
  home: string;
  icon: IconName;
  access: Access;
}

export const SPACES: SpaceDef[] = [
  { id: 'patient', label: 'space.patient', home: '/patient', icon: 'account', access: 'patient' },
  { id: 'pro', label: 'space.pro', home: '/pro', icon: 'people', access: 'professional' },
  { id: 'operator', label: 'space.operator', home: '/operateur', icon: 'grid', access: 'operator' },
];

const patientRecord = () => import('./pages/demo-patient').then((m) => m.renderOwnRecord);
const patientHome = () => import('./pages/patient-home').then((m) => m.renderPatientHome);
const login = () => import('./pages/login').then((m) => m.renderLogin);
const activation = () => import('./pages/activation').then((m) => m.renderActivation);
const opposition = () => import('./pages/opposition').then((m) => m.renderOpposition);
const reset = () => import('./pages/reset').then((m) => m.renderReset);
const account = () => import('./pages/account').then((m) => m.renderAccount);
const directory = () => import('./pages/directory').then((m) => m.renderDirectory);
const opAccounts = () => import('./pages/operator-accounts').then((m) => m.renderAccountSearch);
const opAccount = () => import('./pages/operator-accounts').then((m) => m.renderAccountDetail);
const opNew = () => import('./pages/operator-new').then((m) => m.renderNewAccounts);
const delegations = () => import('./pages/delegations').then((m) => m.renderDelegations);
const closed = () => import('./pages/closed').then((m) => m.renderClosed);
const whoCanSee = () => import('./pages/access-pros').then((m) => m.renderWhoCanSee);
const privacy = () => import('./pages/privacy').then((m) => m.renderPrivacy);
const accessLog = () => import('./pages/access-log').then((m) => m.renderAccessLog);
const ownAccessLog = () => import('./pages/access-log').then((m) => m.renderOwnAccessLog);
const maskedDocuments = () => import('./pages/masked-documents').then((m) => m.renderMaskedDocuments);
const profilePage = () => import('./pages/profile').then((m) => m.renderProfile);
const profileSummary = () => import('./pages/profile-summary').then((m) => m.renderProfileSummary);
const documentsPage = () => import('./pages/documents').then((m) => m.renderDocuments);
const proPatients = () => import('./pages/pro-access').then((m) => m.renderProPatients);
const proRecord = () => import('./pages/pro-access').then((m) => m.renderProRecord);
const proProfile = () => import('./pages/pro-profile').then((m) => m.renderProProfile);
const proDocuments = () => import('./pages/pro-documents').then((m) => m.renderProDocuments);
const redeem = () => import('./pages/pro-access').then((m) => m.renderRedeem);
const emergency = () => import('./pages/pro-access').then((m) => m.renderEmergency);
const grid = () => import('./pages/operator-grid').then((m) => m.renderGrid);
const patientMessages = () => import('./pages/messages').then((m) => m.renderPatientMessages);
const patientThread = () => import('./pages/messages').then((m) => m.renderPatientThread);
const proMessages = () => import('./pages/messages').then((m) => m.renderProMessages);
const proThread = () => import('./pages/messages').then((m) => m.renderProThread);
const proCompose = () => import('./pages/messages').then((m) => m.renderProCompose);

export const PAGES: PageDef[] = [
  // Identity (public)
  { id: 'login', path: '/connexion', title: 'page.login', icon: 'key', inNav: false, access: 'public', render: login },
  { id: 'activation', path: '/activation', title: 'page.activation', icon: 'key', inNav: false, access: 'public', render: activation },
  { id: 'opposition', path: '/opposition', title: 'page.opposition', icon: 'privacy', inNav: false, access: 'public', render: opposition },
  { id: 'reset', path: '/mot-de-passe-oublie', title: 'page.reset', icon: 'key', inNav: false, access: 'public', render: reset },
  { id: 'closed', path: '/compte-ferme', title: 'page.closed', icon: 'account', inNav: false, access: 'public', render: closed },

  // Patient
  { id: 'patient.home', space: 'patient', path: '/patient', title: 'page.patient.home', desc: 'page.patient.home.desc', icon: 'home', inNav: true, render: patientHome },
  { id: 'patient.record', space: 'patient', path: '/patient/dossier', title: 'page.patient.record', desc: 'page.patient.record.desc', icon: 'document', inNav: true, parent: 'patient.home', render: patientRecord },
  { id: 'patient.profile', space: 'patient', path: '/patient/profil', title: 'page.patient.profile', desc: 'page.patient.profile.desc', icon: 'profile', inNav: true, parent: 'patient.home', render: profilePage },
  { id: 'patient.profileSummary', space: 'patient', path: '/patient/profil/resume', title: 'page.patient.profileSummary', icon: 'document', inNav: false, parent: 'patient.profile', render: profileSummary },
  { id: 'patient.documents', space: 'patient', path: '/patient/documents', title: 'page.patient.documents', desc: 'page.patient.documents.desc', icon: 'documents', inNav: true, parent: 'patient.home', render: documentsPage },
  { id: 'patient.messages', space: 'patient', path: '/patient/messagerie', title: 'page.patient.messages', desc: 'page.patient.messages.desc', icon: 'messages', inNav: true, parent: 'patient.home', render: patientMessages },
  { id: 'patient.message', space: 'patient', path: '/patient/messagerie/:id', title: 'page.patient.message', icon: 'messages', inNav: false, parent: 'patient.messages', render: patientThread },
  { id: 'patient.services', space: 'patient', path: '/patient/services', title: 'page.patient.services', desc: 'page.patient.services.desc', icon: 'services', inNav: true, parent: 'patient.home' },
  { id: 'patient.access', space: 'patient', path: '/patient/acces', title: 'page.patient.access', desc: 'page.patient.access.desc', icon: 'people', inNav: true, parent: 'patient.home', render: whoCanSee },
  { id: 'patient.privacy', space: 'patient', path: '/patient/confidentialite', title: 'page.patient.privacy', desc: 'page.patient.privacy.desc', icon: 'privacy', inNav: true, parent: 'patient.home', render: privacy },
  { id: 'patient.maskedDocuments', space: 'patient', path: '/patient/documents-confidentialite', title: 'page.patient.maskedDocuments', desc: 'page.patient.maskedDocuments.desc', icon: 'documents', inNav: false, parent: 'patient.privacy', render: maskedDocuments },
  { id: 'patient.accessLog', space: 'patient', path: '/patient/historique', title: 'page.patient.accessLog', desc: 'page.patient.accessLog.desc', icon: 'history', inNav: true, parent: 'patient.home', render: accessLog },
  { id: 'patient.delegations', space: 'patient', path: '/patient/proches', title: 'page.patient.delegations', desc: 'page.patient.delegations.desc', icon: 'people', inNav: true, parent: 'patient.home', render: delegations },
  { id: 'patient.directory', space: 'patient', path: '/patient/annuaire', title: 'page.directory', desc: 'page.directory.desc', icon: 'directory', inNav: true, parent: 'patient.home', render: directory },
  { id: 'patient.account', space: 'patient', path: '/patient/compte', title: 'page.patient.account', desc: 'page.patient.account.desc', icon: 'account', inNav: true, parent: 'patient.home', render: account },

  // Professional
  { id: 'pro.search', space: 'pro', path: '/pro', title: 'page.pro.search', desc: 'page.pro.search.desc', icon: 'search', inNav: true },
  { id: 'pro.patients', space: 'pro', path: '/pro/acces', title: 'page.pro.patients', desc: 'page.pro.patients.desc', icon: 'people', inNav: true, parent: 'pro.search', render: proPatients },
  { id: 'pro.patient', space: 'pro', path: '/pro/patients/:id', title: 'page.pro.patient', icon: 'document', inNav: false, parent: 'pro.patients', render: proRecord },
  { id: 'pro.profile', space: 'pro', path: '/pro/patients/:id/profil', title: 'page.pro.profile', icon: 'profile', inNav: false, parent: 'pro.patient', render: proProfile },
  { id: 'pro.compose', space: 'pro', path: '/pro/patients/:id/message', title: 'page.pro.compose', icon: 'messages', inNav: false, parent: 'pro.patient', render: proCompose },
  { id: 'pro.documents', space: 'pro', path: '/pro/patients/:id/documents', title: 'page.pro.documents', icon: 'documents', inNav: false, parent: 'pro.patient', render: proDocuments },
  { id: 'pro.code', space: 'pro', path: '/pro/code', title: 'page.pro.code', desc: 'page.pro.code.desc', icon: 'key', inNav: true, parent: 'pro.patients', render: redeem },
  { id: 'pro.messages', space: 'pro', path: '/pro/messagerie', title: 'page.pro.messages', desc: 'page.pro.messages.desc', icon: 'messages', inNav: true, parent: 'pro.search', render: proMessages },
  { id: 'pro.message', space: 'pro', path: '/pro/messagerie/:id', title: 'page.pro.message', icon: 'messages', inNav: false, parent: 'pro.messages', render: proThread },
  { id: 'pro.emergency', space: 'pro', path: '/pro/urgence', title: 'page.pro.emergency', desc: 'page.pro.emergency.desc', icon: 'emergency', inNav: true, parent: 'pro.patients', render: emergency },
  { id: 'pro.accessLog', space: 'pro', path: '/pro/historique', title: 'page.pro.accessLog', desc: 'page.pro.accessLog.desc', icon: 'history', inNav: true, parent: 'pro.patients', render: ownAccessLog },
  { id: 'pro.directory', space: 'pro', path: '/pro/annuaire', title: 'page.directory', desc: 'page.directory.desc', icon: 'directory', inNav: true, parent: 'pro.search', render: directory },
  { id: 'pro.account', space: 'pro', path: '/pro/compte', title: 'page.pro.account', desc: 'page.pro.account.desc', icon: 'account', inNav: true, parent: 'pro.search', render: account },

  // Operator: advisors see the accounts; admins also the forms and the directory tools.
  { id: 'operator.accounts', space: 'operator', path: '/operateur', title: 'page.operator.accounts', desc: 'page.operator.accounts.desc', icon: 'support', inNav: true, render: opAccounts },
  { id: 'operator.account', space: 'operator', path: '/operateur/comptes/:id', title: 'page.operator.account', icon: 'account', inNav: false, parent: 'operator.accounts', render: opAccount },
  { id: 'operator.new', space: 'operator', path: '/operateur/nouveau-compte', title: 'page.operator.new', desc: 'page.operator.new.desc', icon: 'people', inNav: true, parent: 'operator.accounts', access: 'admin', render: opNew },
  { id: 'operator.grid', space: 'operator', path: '/operateur/grille', title: 'page.operator.grid', desc: 'page.operator.grid.desc', icon: 'grid', inNav: true, parent: 'operator.accounts', access: 'admin', render: grid },
  { id: 'operator.directory', space: 'operator', path: '/operateur/annuaire', title: 'page.operator.directory', desc: 'page.operator.directory.desc', icon: 'directory', inNav: true, parent: 'operator.accounts', access: 'admin' },
  { id: 'operator.catalogue', space: 'operator', path: '/operateur/catalogue', title: 'page.operator.catalogue', desc: 'page.operator.catalogue.desc', icon: 'catalogue', inNav: true, parent: 'operator.accounts', access: 'admin' },
];

export const LOGIN_PATH = '/connexion';

/** Who may open the page. */
export function accessOf(page: PageDef): Access {
  if (page.access) return page.access;
  return page.space ? spaceById(page.space).access : 'public';
}

export function allowed(access: Access, session: Session | null): boolean {
  switch (access) {
    case 'public':
      return true;
    case 'patient':
      return isPatientSession(session);
    case 'professional':
      return session?.account.kind === 'professional';
    case 'operator':
      return isOperator(session?.account.kind);
    case 'admin':
      return session?.account.kind === 'admin';
  }
}

/** A path that is safe to return to after login: same origin, a page of the portal, not public. */
export function safeReturn(path: string | null | undefined): string | undefined {
  if (!path || !path.startsWith('/') || path.startsWith('//') || path.includes('\\')) return undefined;
  const m = match(new URL(path, location.origin).pathname);
  if (!m || accessOf(m.page) === 'public') return undefined;
  return path;
}

/** The person's account page, if their space has one (patients and professionals). */
export function accountPathFor(session: Session | null): string | undefined {
  if (!session) return undefined;
  if (isPatientSession(session)) return pathFor('patient.account');
  if (session.account.kind === 'professional') return pathFor('pro.account');
  return undefined;
}

/** The login page, remembering where to come back to. */
export function loginPath(returnTo?: string): string {
  const back = safeReturn(returnTo);
  return back ? `${LOGIN_PATH}?retour=${encodeURIComponent(back)}` : LOGIN_PATH;
}

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

/** Whether this session may open the page at `path` (a path with an optional query). */
export function canOpen(path: string, session: Session | null): boolean {
  const m = match(new URL(path, location.origin).pathname);
  return !!m && allowed(accessOf(m.page), session);
}
