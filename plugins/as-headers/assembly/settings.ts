// Configuration for as-headers: a flat JSON object whose string values are read by key.
// AssemblyScript 0.14 has no JSON library, so this reads only what the plugin needs.

export class Settings {
  headerName: string = "x-as-header";
  headerValue: string = "added-by-as";
  responseHeaderName: string = "x-as-response";
  responseHeaderValue: string = "added-by-as";
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

// Returns the string value of "key" in a flat JSON object, or null when the key is absent or its
// value is not a string. Handles \" and \\ escapes.
export function stringField(json: string, key: string): string | null {
  const needle = "\"" + key + "\"";
  let at = json.indexOf(needle);
  while (at >= 0) {
    let i = at + needle.length;
    while (i < json.length && isSpace(json.charCodeAt(i))) i++;
    if (i < json.length && json.charCodeAt(i) == 0x3a /* : */) {
      i++;
      while (i < json.length && isSpace(json.charCodeAt(i))) i++;
      if (i >= json.length || json.charCodeAt(i) != 0x22 /* " */) return null;
      i++;
      let out = "";
      while (i < json.length) {
        const c = json.charCodeAt(i);
        if (c == 0x22) return out;
        if (c == 0x5c /* \ */ && i + 1 < json.length) {
          i++;
        }
        out += json.charAt(i);
        i++;
      }
      return null;
    }
    at = json.indexOf(needle, at + 1);
  }
  return null;
}

// Parses the plugin configuration. Returns null when it is not a JSON object.
export function parseSettings(text: string): Settings | null {
  const s = new Settings();
  const trimmed = text.trim();
  if (trimmed.length == 0) return s;
  if (trimmed.charCodeAt(0) != 0x7b /* { */) return null;
  const name = stringField(trimmed, "header_name");
  if (name !== null) s.headerName = name;
  const value = stringField(trimmed, "header_value");
  if (value !== null) {
    s.headerValue = value;
    s.responseHeaderValue = value;
  }
  const rname = stringField(trimmed, "response_header_name");
  if (rname !== null) s.responseHeaderName = rname;
  const rvalue = stringField(trimmed, "response_header_value");
  if (rvalue !== null) s.responseHeaderValue = rvalue;
  return s;
}
