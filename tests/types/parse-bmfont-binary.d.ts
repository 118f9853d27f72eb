/** parse-bmfont-binary ships no types: it returns the BMFont blocks as plain objects. */
declare module 'parse-bmfont-binary' {
  function parse(buffer: Buffer): unknown;
  export default parse;
}
