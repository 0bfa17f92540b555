// Plain-words renderings shared by the account page and the operator console: the account
// history, statuses, kinds, identifiers, sign-in methods and browsers.
import { h } from '../dom';
import { formatMicros, isMessageKey, isoMicros, t } from '../i18n';
import type { AccountEvent, AccountKind, AccountStatus } from '../api/auth';

/** "Connexion", "Modification du mot de passe"… — never the action code itself. */
export function actionText(action: string): string {
  const key = `history.action.${action}`;
  return isMessageKey(key) ? t(key) : t('history.action.other');
}

/**
 * Who did it. On one's own page the person is "Vous"; elsewhere the kind of actor in words.
 */
export function actorText(actorKind: string | undefined, ownKind?: AccountKind): string {
  if (ownKind && actorKind === ownKind) return t('history.actor.self');
  const key = `history.actor.${actorKind ?? 'system'}`;
  return isMessageKey(key) ? t(key) : t('history.actor.system');
}

export function historyList(events: AccountEvent[], ownKind?: AccountKind): HTMLElement {
  return h(
    'ol',
    { class: 'history', role: 'list' },
    events.map((e) =>
      h(
        'li',
        { class: 'history__item', 'data-action': e.action },
        h('time', { class: 'history__when', datetime: isoMicros(e.at) }, formatMicros(e.at)),
        h('span', { class: 'history__what' }, actionText(e.action)),
        h('span', { class: 'history__who' }, t('history.by', { who: actorText(e.actor_kind, ownKind) })),
        e.detail && h('span', { class: 'history__detail' }, e.detail),
      ),
    ),
  );
}

export function statusText(status: AccountStatus | string): string {
  const key = `account.status.${status}`;
  return isMessageKey(key) ? t(key) : status;
}

export function kindText(kind: AccountKind | string): string {
  const key = `account.kind.${kind}`;
  return isMessageKey(key) ? t(key) : kind;
}

/** "2 85 03 75 123 456 88": the INS as printed on a card (sex, year, month, place, order, key). */
export function formatIns(ins: string | undefined): string {
  if (!ins) return '';
  const s = ins.replace(/\s/g, '');
  if (s.length !== 15) return ins;
  return [s.slice(0, 1), s.slice(1, 3), s.slice(3, 5), s.slice(5, 7), s.slice(7, 10), s.slice(10, 13), s.slice(13)].join(' ');
}

/** "+33612345642" → "06 12 34 56 42" (French numbers as people write them); others as given. */
export function formatPhone(phone: string | undefined): string {
  if (!phone) return '';
  const m = /^\+33(\d{9})$/.exec(phone);
  if (!m) return phone;
  return `0${m[1]}`.replace(/(\d{2})(?=\d)/g, '$1 ');
}

/** "Mot de passe et code reçu par e-mail"… */
export function methodText(method: string | undefined): string {
  const key = `method.${method ?? ''}`;
  return method && isMessageKey(key) ? t(key) : t('method.other');
}

/** "Chrome · Linux" from a User-Agent header: enough to recognise one's own devices. */
export function describeAgent(ua: string | undefined): string {
  if (!ua) return t('sessions.unknownDevice');
  const browser =
    /Edg\//.test(ua) ? 'Edge'
    : /OPR\/|Opera/.test(ua) ? 'Opera'
    : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari'
    : undefined;
  const os =
    /Android/.test(ua) ? 'Android'
    : /iPhone|iPad|iPod/.test(ua) ? 'iOS'
    : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
    : /CrOS/.test(ua) ? 'ChromeOS'
    : /Linux/.test(ua) ? 'Linux'
    : undefined;
  if (browser && os) return t('sessions.browserOn', { browser, os });
  return browser ?? os ?? t('sessions.unknownDevice');
}

/** A verified / not verified badge: words and an icon, never colour alone. */
export function verifiedBadge(verified: boolean | undefined): HTMLElement {
  return h(
    'span',
    { class: ['badge', verified ? 'badge--ok' : 'badge--warn'] },
    h('span', { class: 'badge__mark', 'aria-hidden': 'true' }, verified ? '✓' : '!'),
    verified ? t('contact.verified') : t('contact.unverified'),
  );
}
