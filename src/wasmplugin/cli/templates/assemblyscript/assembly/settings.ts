// The plugin configuration: a JSON object whose values are strings, e.g.
//   {"greeting": "hello", "deny_path": "/forbidden"}
// AssemblyScript 0.14 has no JSON library and no exceptions, so this is a small reader for exactly
// that shape which reports what it did not understand in `error` instead of throwing.

export class Settings {
  greeting: string = "hello";
  denyPath: string = "/forbidden";
  // Empty when the configuration was accepted; otherwise why it was refused.
  error: string = "";
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

class Reader {
  text: string;
  pos: i32 = 0;

  constructor(text: string) {
    this.text = text;
  }

  // The next character code, or -1 at the end of the text.
  peek(): i32 {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  skipSpace(): void {
    let c = this.peek();
    while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) {
      this.pos++;
      c = this.peek();
    }
  }

  // Reads a JSON string at the current position; null when there is none or it is malformed.
  readString(): string | null {
    if (this.peek() != QUOTE) return null;
    this.pos++;
    let out = "";
    while (this.pos < this.text.length) {
      let c = this.text.charCodeAt(this.pos++);
      if (c == QUOTE) return out;
      if (c == BACKSLASH) {
        if (this.pos >= this.text.length) return null;
        const e = this.text.charCodeAt(this.pos++);
        if (e == 0x6e) c = 0x0a; // \n
        else if (e == 0x74) c = 0x09; // \t
        else if (e == 0x72) c = 0x0d; // \r
        else if (e == 0x62) c = 0x08; // \b
        else if (e == 0x66) c = 0x0c; // \f
        else if (e == 0x75) { // \uXXXX
          if (this.pos + 4 > this.text.length) return null;
          c = 0;
          for (let i = 0; i < 4; i++) {
            const d = hexValue(this.text.charCodeAt(this.pos++));
            if (d < 0) return null;
            c = c * 16 + d;
          }
        } else if (e == QUOTE || e == BACKSLASH || e == 0x2f) c = e;
        else return null;
      }
      out += String.fromCharCode(c);
    }
    return null;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function refuse(s: Settings, reason: string): Settings {
  s.error = reason;
  return s;
}

// Parses the configuration text; empty text means "all defaults".
export function parseSettings(text: string): Settings {
  const s = new Settings();
  const r = new Reader(text);
  r.skipSpace();
  if (r.peek() == -1) return s;
  if (r.peek() != 0x7b) return refuse(s, "expected a JSON object");
  r.pos++;
  r.skipSpace();
  if (r.peek() == 0x7d) {
    r.pos++;
  } else {
    while (true) {
      r.skipSpace();
      const key = r.readString();
      if (key === null) return refuse(s, "expected a quoted key at offset " + r.pos.toString());
      r.skipSpace();
      if (r.peek() != 0x3a) return refuse(s, "expected ':' after \"" + key + "\"");
      r.pos++;
      r.skipSpace();
      const value = r.readString();
      if (value === null) return refuse(s, key + ": expected a string");
      if (key == "greeting") s.greeting = value;
      else if (key == "deny_path") s.denyPath = value;
      else return refuse(s, "unknown key \"" + key + "\"");
      r.skipSpace();
      const c = r.peek();
      r.pos++;
      if (c == 0x2c) continue; // ,
      if (c == 0x7d) break; // }
      return refuse(s, "expected ',' or '}' at offset " + (r.pos - 1).toString());
    }
  }
  r.skipSpace();
  if (r.peek() != -1) return refuse(s, "unexpected text after the JSON object");
  return s;
}
