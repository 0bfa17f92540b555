// The i18n layer: t('key', { param }) looks a message up in the current language's catalogue.
// French is the default; the choice is remembered in localStorage and mirrored on <html lang>.
import { fr } from './fr';
import { en } from './en';

export type Lang = 'fr' | 'en';
export type MessageKey = keyof typeof fr;
export const LANGS: readonly Lang[] = ['fr', 'en'];

const catalogues: Record<Lang, Record<MessageKey, string>> = { fr, en };
const STORAGE_KEY = 'carnet.lang';
const listeners = new Set<(lang: Lang) => void>();

let current: Lang = initialLang();

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'fr' || saved === 'en') return saved;
  } catch {
    /* storage may be unavailable (private mode): fall back to French */
  }
  return 'fr';
}

export function getLang(): Lang {
  return current;
}

/** BCP 47 locale used by Intl for dates and numbers. */
export function locale(): string {
  return current === 'fr' ? 'fr-FR' : 'en-GB';
}

export function setLang(lang: Lang): void {
  if (lang === current) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* ignore */
  }
  applyLang();
  for (const fn of listeners) fn(lang);
}

export function applyLang(): void {
  document.documentElement.lang = current;
}

export function onLangChange(fn: (lang: Lang) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(fr, key);
}

export function t(key: MessageKey, params?: Record<string, string | number>): string {
  const msg = catalogues[current][key] ?? fr[key] ?? key;
  if (!params) return msg;
  return msg.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in params ? String(params[name]) : m,
  );
}

/** Plural-aware lookup: tn('demo.count', 3) uses 'demo.count.one' / 'demo.count.other'. */
export function tn(base: string, n: number, params?: Record<string, string | number>): string {
  const rule = new Intl.PluralRules(locale()).select(n);
  const key = `${base}.${rule === 'one' ? 'one' : 'other'}`;
  const formatted = formatNumber(n);
  return isMessageKey(key) ? t(key, { n: formatted, ...params }) : formatted;
}

export function formatNumber(n: number): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(n);
}

/**
 * Format a FHIR date or dateTime ("1985", "1985-03", "1985-03-12", "2019-07-27T01:39:26+00:00")
 * as a human date in the current language ("12 mars 1985"). Returns '' when absent/invalid.
 */
export function formatDate(value: string | undefined, style: 'long' | 'short' = 'long'): string {
  if (!value) return '';
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (m) {
    const [, y, mo, d] = m;
    if (!mo) return y!;
    const date = new Date(Date.UTC(Number(y), Number(mo) - 1, d ? Number(d) : 1));
    const opts: Intl.DateTimeFormatOptions = d
      ? { day: 'numeric', month: style, year: 'numeric', timeZone: 'UTC' }
      : { month: style, year: 'numeric', timeZone: 'UTC' };
    return new Intl.DateTimeFormat(locale(), opts).format(date);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: style, year: 'numeric' }).format(date);
}

/** Age in whole years at `at` (default: today) from a FHIR date; undefined if unknown. */
export function ageFrom(birthDate: string | undefined, at?: string): number | undefined {
  if (!birthDate || !/^\d{4}-\d{2}-\d{2}/.test(birthDate)) return undefined;
  const [y, m, d] = birthDate.slice(0, 10).split('-').map(Number) as [number, number, number];
  const end = at ? new Date(at) : new Date();
  if (Number.isNaN(end.getTime())) return undefined;
  let age = end.getFullYear() - y;
  if (end.getMonth() + 1 < m || (end.getMonth() + 1 === m && end.getDate() < d)) age--;
  return age >= 0 ? age : undefined;
}

/** A moment of the identity API (microseconds since the epoch) in words; '' when absent. */
export function formatMicros(us: number | null | undefined, withTime = true): string {
  if (us === null || us === undefined || !Number.isFinite(us) || us <= 0) return '';
  const date = new Date(Math.floor(us / 1000));
  return new Intl.DateTimeFormat(locale(), withTime ? { dateStyle: 'long', timeStyle: 'short' } : { dateStyle: 'long' }).format(date);
}

/** ISO form of the same moment, for <time datetime>. */
export function isoMicros(us: number | null | undefined): string | undefined {
  if (us === null || us === undefined || !Number.isFinite(us) || us <= 0) return undefined;
  return new Date(Math.floor(us / 1000)).toISOString();
}
