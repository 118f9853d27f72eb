// Chart.js (served from node_modules by the hub as /app/vendor/chart.umd.min.js, a global).
// Charts are updated in place on each poll so they do not flicker or re-animate.

const FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
export const LEVEL_COLOURS = { 5: '#1a7f37', 4: '#57ab5a', 3: '#d4a72c', 2: '#e16f24', 1: '#cf222e' };

export function chartAvailable() { return typeof window.Chart === 'function'; }

if (chartAvailable()) {
  window.Chart.defaults.font.family = FONT;
  window.Chart.defaults.animation = false;
}

/** Makes or updates a chart on `canvas`; `config` is a Chart.js config. */
export function drawChart(canvas, config) {
  if (!chartAvailable()) return null;
  const existing = window.Chart.getChart(canvas);
  if (existing && existing.config.type === config.type) {
    existing.data.labels = config.data.labels;
    config.data.datasets.forEach((ds, i) => {
      if (existing.data.datasets[i]) Object.assign(existing.data.datasets[i], ds);
      else existing.data.datasets.push(ds);
    });
    existing.data.datasets.length = config.data.datasets.length;
    existing.update('none');
    return existing;
  }
  existing?.destroy();
  return new window.Chart(canvas, { ...config, options: { responsive: true, maintainAspectRatio: false, ...config.options } });
}
