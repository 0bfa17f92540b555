// The otpauth:// URI as a QR code, drawn as SVG through the DOM (no markup strings, no inline
// style): the `qrcode` package only computes the modules.
import QRCode from 'qrcode';
import { t } from '../i18n';

const SVG_NS = 'http://www.w3.org/2000/svg';
const QUIET = 4; // modules of white border the standard asks for

/** An <svg role="img"> of the QR code, or null if the text cannot be encoded. */
export function totpQr(text: string): SVGSVGElement | null {
  let modules: { size: number; get(row: number, col: number): number | boolean };
  try {
    modules = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules as unknown as typeof modules;
  } catch {
    return null;
  }
  const n = modules.size + QUIET * 2;
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const title = document.createElementNS(SVG_NS, 'title');
  title.textContent = t('totp.qrLabel');
  svg.appendChild(title);
  const bg = document.createElementNS(SVG_NS, 'rect');
  bg.setAttribute('width', String(n));
  bg.setAttribute('height', String(n));
  bg.setAttribute('fill', '#ffffff');
  svg.appendChild(bg);
  // One path: a 1×1 square per dark module, row by row.
  let d = '';
  for (let row = 0; row < modules.size; row++) {
    for (let col = 0; col < modules.size; col++) {
      if (modules.get(row, col)) d += `M${col + QUIET} ${row + QUIET}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000000');
  svg.appendChild(path);
  return svg;
}
