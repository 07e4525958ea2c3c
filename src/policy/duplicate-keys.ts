/**
 * Duplicate keys in JSON text. JSON.parse silently keeps the last of two equal keys, so a policy
 * with `"run_job"` written twice would lose the first entry without a word; the loader reports
 * every duplicate as a problem instead. Runs at load only, on text JSON.parse already accepted.
 */

export interface DuplicateKey {
  /** Path of the object holding the duplicate, then the key. */
  path: PropertyKey[];
}

class Scanner {
  private i = 0;
  readonly found: DuplicateKey[] = [];

  constructor(private readonly text: string) {}

  scan(): void {
    this.value([]);
  }

  private ws(): void {
    while (this.i < this.text.length && /\s/.test(this.text[this.i] ?? '')) this.i += 1;
  }

  private value(path: PropertyKey[]): void {
    this.ws();
    const c = this.text[this.i];
    if (c === '{') this.object(path);
    else if (c === '[') this.array(path);
    else if (c === '"') this.string();
    else while (this.i < this.text.length && !/[\s,\]}]/.test(this.text[this.i] ?? '')) this.i += 1;
  }

  private string(): string {
    const start = this.i;
    this.i += 1;
    while (this.i < this.text.length && this.text[this.i] !== '"') this.i += this.text[this.i] === '\\' ? 2 : 1;
    this.i += 1;
    return String(JSON.parse(this.text.slice(start, this.i)));
  }

  private object(path: PropertyKey[]): void {
    this.i += 1;
    const keys = new Set<string>();
    this.ws();
    if (this.text[this.i] === '}') {
      this.i += 1;
      return;
    }
    for (;;) {
      this.ws();
      const key = this.string();
      if (keys.has(key)) this.found.push({ path: [...path, key] });
      keys.add(key);
      this.ws();
      this.i += 1; // the ':'
      this.value([...path, key]);
      this.ws();
      const c = this.text[this.i];
      this.i += 1;
      if (c !== ',') return;
    }
  }

  private array(path: PropertyKey[]): void {
    this.i += 1;
    this.ws();
    if (this.text[this.i] === ']') {
      this.i += 1;
      return;
    }
    for (let index = 0; ; index += 1) {
      this.value([...path, index]);
      this.ws();
      const c = this.text[this.i];
      this.i += 1;
      if (c !== ',') return;
    }
  }
}

/** Every key that appears twice in one object; `text` must be valid JSON. */
export function findDuplicateKeys(text: string): DuplicateKey[] {
  const scanner = new Scanner(text);
  try {
    scanner.scan();
  } catch {
    // Only reachable for pathological nesting (stack depth); JSON.parse already vouched for the syntax.
  }
  return scanner.found;
}
