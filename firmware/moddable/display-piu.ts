/**
 * The display on Piu. Each View is drawn whole: a hall display changes a few times a minute,
 * so rebuilding the few labels costs nothing and leaves no stale state on the glass.
 *
 * Fonts are resources named in the manifest, made from Noto Sans CJK by
 * scripts/fonts/make-fonts.ts: the ticket number in a 72 px bold font holding every ticket
 * character (letters, digits, '-'); the labels in 24/18 px fonts holding every string literal
 * of the firmware plus firmware/moddable/fonts/hall-chars.txt for the hub's item names and
 * notices. tests/firmware/fonts.test.ts fails when a string here has no glyph.
 */
import {} from 'piu/MC';
import type { Display, View } from '../core/hardware.js';
import { RATING_LABELS, BAD_RATING_REASONS, BAD_RATING_REASON_LABELS, type RatingLevel } from '../core/protocol.js';

export interface DisplayFonts {
  /** Resource name of the huge font for the ticket number. */
  number: string;
  /** Resource name of the CJK font for headings and labels. */
  label: string;
  /** Resource name of a smaller CJK font for secondary lines. */
  small: string;
}

/** Status words a window shows under its number. */
const STATUS_TEXT: Record<string, string> = {
  idle: '空闲', called: '请到本窗口办理', recalled: '重呼 请到本窗口', serving: '正在办理', paused: '暂停服务', closed: '已关闭',
};

const COLORS = {
  background: '#000000', number: '#ffd200', text: '#ffffff', dim: '#a0a0a0', offline: '#ff4040', good: '#40d040', bad: '#ff6040',
  key: '#303030', keyDown: '#606060',
};

type StyleName = 'number' | 'label' | 'small' | 'dim' | 'offline' | 'good' | 'bad';
type Line = [StyleName, string];

/** Pad key order: the five rating keys are numbered 1–5 from the left, level 5 first. */
const KEY_LEVELS: RatingLevel[] = [5, 4, 3, 2, 1];

const KEY_ROW_HEIGHT = 40; // px

export class PiuDisplay implements Display {
  readonly #app: InstanceType<typeof Application>;
  readonly #styles: Record<StyleName, InstanceType<typeof Style>>;
  #column: InstanceType<typeof Column> | undefined = undefined;
  /** Pixels the key buttons take at the foot; 0 where the keys are GPIO. */
  #keysHeight = 0;

  constructor(fonts: DisplayFonts) {
    this.#styles = {
      number: new Style({ font: fonts.number, color: COLORS.number, horizontal: 'center', vertical: 'middle' }),
      label: new Style({ font: fonts.label, color: COLORS.text, horizontal: 'center', vertical: 'middle' }),
      small: new Style({ font: fonts.small, color: COLORS.text, horizontal: 'center', vertical: 'middle' }),
      dim: new Style({ font: fonts.small, color: COLORS.dim, horizontal: 'center', vertical: 'middle' }),
      offline: new Style({ font: fonts.small, color: COLORS.offline, horizontal: 'center', vertical: 'middle' }),
      good: new Style({ font: fonts.label, color: COLORS.good, horizontal: 'center', vertical: 'middle' }),
      bad: new Style({ font: fonts.label, color: COLORS.bad, horizontal: 'center', vertical: 'middle' }),
    };
    this.#app = new Application(null, {
      skin: new Skin({ fill: COLORS.background }),
      left: 0, right: 0, top: 0, bottom: 0,
      displayListLength: 4096,
    });
  }

  render(view: View): void {
    const lines = this.#lines(view);
    const app = this.#app;
    if (this.#column) app.remove(this.#column);
    this.#column = new Column(null, { left: 4, right: 4, top: 4, bottom: 4 + this.#keysHeight, contents: lines.map(([style, text]) => this.#label(style, text)) });
    app.add(this.#column);
  }

  /**
   * A row of touch buttons along the foot of the screen, one per key (the lin simulator's
   * keys: its host gives Piu no keyboard). Pressing reports down, releasing or sliding off
   * reports up; the core debounces as it does GPIO edges.
   */
  showKeys(labels: readonly string[], onKey: (index: number, pressed: boolean) => void): void {
    const up = new Skin({ fill: COLORS.key });
    const down = new Skin({ fill: COLORS.keyDown });
    class KeyBehavior extends Behavior {
      onTouchBegan(content: InstanceType<typeof Content>): void { content.skin = down; onKey(content.index, true); }
      onTouchEnded(content: InstanceType<typeof Content>): void { content.skin = up; onKey(content.index, false); }
      onTouchCancelled(content: InstanceType<typeof Content>): void { content.skin = up; onKey(content.index, false); }
    }
    this.#keysHeight = KEY_ROW_HEIGHT;
    this.#app.add(new Row(null, {
      left: 2, right: 2, bottom: 2, height: KEY_ROW_HEIGHT - 4,
      contents: labels.map((label) => new Label(null, {
        left: 2, right: 2, top: 0, bottom: 0, active: true, skin: up, style: this.#styles.small, string: label, Behavior: KeyBehavior,
      })),
    }));
    if (this.#column) this.#column.coordinates = { left: 4, right: 4, top: 4, bottom: 4 + this.#keysHeight };
  }

  /** A line; text longer than the screen wraps (a Text) instead of ending in "…" (a Label). */
  #label(style: StyleName, text: string): InstanceType<typeof Content> {
    if (style === 'number') return new Label(null, { left: 0, right: 0, style: this.#styles[style], string: text });
    return new Text(null, { left: 0, right: 0, style: this.#styles[style], string: text });
  }

  /** The lines each screen shows, top to bottom. */
  #lines(view: View): Line[] {
    const offline: Line[] = 'online' in view && !view.online ? [['offline', '离线']] : [];
    switch (view.screen) {
      case 'window': {
        const status = STATUS_TEXT[view.status] ?? view.status;
        return [
          ['label', `${view.win} 号窗口`],
          ['number', view.ticket ?? '---'],
          ['label', status],
          ...(view.item ? [['small', view.item] as Line] : []),
          ['dim', `等候 ${view.waiting} 人`],
          ...(view.text ? [['small', view.text] as Line] : []),
          ...offline,
        ];
      }
      case 'idle':
        return [['label', view.text], ...offline];
      case 'rate':
        return [
          ['label', view.ticket ? `请为 ${view.ticket} 号的服务评价` : '请为本次服务评价'],
          ...(view.item ? [['dim', view.item] as Line] : []),
          ...KEY_LEVELS.map((level, i) => [level <= 2 ? 'bad' : 'small', `${i + 1}  ${RATING_LABELS[level]}`] as Line),
          ...offline,
        ];
      case 'reason':
        return [
          ['bad', `${RATING_LABELS[view.level]}：请选择原因`],
          ...BAD_RATING_REASONS.map((reason, i) => ['small', `${i + 1}  ${BAD_RATING_REASON_LABELS[reason]}`] as Line),
        ];
      case 'thanks':
        return [
          ['good', '感谢您的评价'],
          ['label', RATING_LABELS[view.level]],
          ...(view.reason ? [['dim', BAD_RATING_REASON_LABELS[view.reason]] as Line] : []),
        ];
      case 'notice':
        return [['label', view.text], ...offline];
    }
  }

}
