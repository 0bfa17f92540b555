// A tiny element builder. Everything is created through the DOM (never innerHTML), so
// text from the API can't inject markup, and no inline style is ever needed (strict CSP).

export type Child = Node | string | number | null | undefined | false | Child[];

export interface Attrs {
  class?: string | (string | false | null | undefined)[];
  /** Event listeners: { click: (e) => … } */
  on?: { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };
  /** Any other attribute; true → present, false/null/undefined → absent. */
  [attr: string]: unknown;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on') {
      for (const [ev, fn] of Object.entries(value as Record<string, EventListener>)) {
        el.addEventListener(ev, fn);
      }
    } else if (name === 'class') {
      const cls = Array.isArray(value) ? value.filter(Boolean).join(' ') : String(value ?? '');
      if (cls) el.setAttribute('class', cls);
    } else if (name === 'style') {
      throw new Error('dom.h: use CSS classes, not inline styles (CSP)');
    } else if (value === true) {
      el.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, String(value));
    }
  }
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace all children of `parent`. */
export function mount(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Decorative SVG icon from path data (24×24 grid, stroked). Hidden from assistive tech. */
export function icon(paths: string[], cls = 'icon'): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of paths) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}

export const ICONS = {
  home: ['M3 11.5 12 4l9 7.5', 'M5.5 9.5V20h13V9.5', 'M10 20v-5h4v5'],
  profile: ['M12 21s-7-4.4-7-10.2A4.3 4.3 0 0 1 12 8a4.3 4.3 0 0 1 7 2.8C19 16.6 12 21 12 21z'],
  documents: ['M7 3h7l5 5v13H7z', 'M14 3v5h5', 'M10 13h6M10 17h6'],
  messages: ['M4 5h16v11H8l-4 4z', 'M8 10h8'],
  services: ['M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z'],
  privacy: ['M12 3 5 6v5c0 4.5 3 8.3 7 10 4-1.7 7-5.5 7-10V6z', 'M9 12l2 2 4-4'],
  history: ['M4 12a8 8 0 1 0 2.3-5.6', 'M4 4v4h4', 'M12 8v4l3 2'],
  account: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21c1-4 4.5-6 8-6s7 2 8 6'],
  people: ['M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M2.5 20c.8-3.5 3.4-5.5 6.5-5.5s5.7 2 6.5 5.5', 'M16 4.5a3.5 3.5 0 0 1 0 6.5', 'M18 14.8c1.7.7 3 2.5 3.5 5.2'],
  search: ['M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13z', 'M15.5 15.5 21 21'],
  key: ['M8 15a4 4 0 1 1 3.5-6H21v3h-2v3h-3v-3h-4.5A4 4 0 0 1 8 15z'],
  emergency: ['M12 3v18M3 12h18'],
  grid: ['M3 5h18M3 12h18M3 19h18M9 3v18M15 3v18'],
  directory: ['M5 3h13v18H5z', 'M9 8h6M9 12h6M9 16h4'],
  catalogue: ['M4 7h16v13H4z', 'M8 7V4h8v3'],
  support: ['M4 13v-1a8 8 0 0 1 16 0v1', 'M4 13h3v6H4zM17 13h3v6h-3z'],
  back: ['M15 5l-7 7 7 7'],
  chevron: ['M9 5l7 7-7 7'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
  alert: ['M12 3 2 20h20z', 'M12 10v4', 'M12 17h.01'],
  empty: ['M4 7h16v13H4z', 'M4 7l3-4h10l3 4', 'M9 12h6'],
  menu: ['M4 7h16M4 12h16M4 17h16'],
  observation: ['M3 12h4l2-6 4 12 2-6h6'],
  condition: ['M12 3v4M12 17v4M3 12h4M17 12h4', 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z'],
  immunization: ['M18 3l3 3', 'M19.5 4.5 16 8', 'M16 8 7 17l-3 .9.9-3L14 6z', 'M11 9l4 4'],
  encounter: ['M4 21V7l8-4 8 4v14', 'M9 21v-5h6v5', 'M12 8v4M10 10h4'],
  medication: ['M8.5 15.5 15.5 8.5', 'M6 18a4.2 4.2 0 0 1 0-6l6-6a4.2 4.2 0 0 1 6 6l-6 6a4.2 4.2 0 0 1-6 0z'],
  document: ['M7 3h7l5 5v13H7z', 'M14 3v5h5'],
} satisfies Record<string, string[]>;

export type IconName = keyof typeof ICONS;
