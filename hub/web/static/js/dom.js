// A tiny element builder: h('td', { class: 'x', onclick }, 'text', child). Text is always set
// as text (never innerHTML), so data from the hub cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

/** A table from column headers and rows of cells; `rowAttrs(row)` adds attributes per row. */
export function table(headers, rows, { rowAttrs, empty, testid } = {}) {
  return h('table', { class: 'grid', 'data-testid': testid },
    h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))),
    h('tbody', null, rows.length === 0 && empty ? h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, empty)) : rows.map((r, i) => h('tr', rowAttrs?.(r, i), (r.cells ?? r).map((c) => h('td', null, c))))));
}

export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, ...body);
}

export function stat(label, value, { tone, testid } = {}) {
  return h('div', { class: `stat ${tone ?? ''}`, 'data-testid': testid }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}
