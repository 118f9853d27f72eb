/**
 * The desktop simulator's screen global (build/simulators/modules/screen.c): it forwards the
 * window's key presses to `screen.context.onKeyDown(key, modifiers, when)`. Piu's view becomes
 * that context; the lin keys adapter adds key handlers to it.
 */
interface SimulatorScreenContext {
  onKeyDown?: (key: string, modifiers: number, when: number) => void;
  onKeyUp?: (key: string, modifiers: number, when: number) => void;
}
interface SimulatorScreen {
  context?: SimulatorScreenContext;
  width: number;
  height: number;
}
